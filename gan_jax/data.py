"""Input pipeline: an `ImageDataset` → global, sharded batches, one per train step.

The order is a pure function of (seed, step): examples are drawn without replacement,
epoch after epoch, each epoch a fresh permutation seeded by (seed, epoch). Position
``p`` of the stream is example ``perm[epoch = p // N][p % N]``, and step ``s`` takes
positions ``[s·K·B, (s+1)·K·B)`` with K = ``n_critic``, B = ``batch_size``. So there
is no iterator state to save: a run resumed at step s reads exactly the batches an
uninterrupted one would, on any number of hosts or devices.

Each process gathers only its own columns of the (K, B) batch and hands them to
`jax.make_array_from_process_local_data`, giving one global ``jax.Array`` sharded on
the batch axis. A background thread prepares and transfers ``dataset.prefetch``
batches ahead, overlapping the host work with the running step. Images travel as
uint8 and are scaled to [-1, 1] inside the step.
"""

import functools
import queue
import threading
from typing import Iterator

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_jax import parallel
from gan_jax.datasets import ImageDataset


@functools.lru_cache(maxsize=4)
def _epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64([seed, epoch, 0x6A4]))
    perm = rng.permutation(num_examples)
    perm.flags.writeable = False
    return perm


def stream_indices(seed: int, start: int, count: int, num_examples: int) -> np.ndarray:
    """Dataset indices at stream positions [start, start + count)."""
    positions = np.arange(start, start + count, dtype=np.int64)
    epochs, offsets = np.divmod(positions, num_examples)
    out = np.empty(count, np.int64)
    for epoch in np.unique(epochs):
        sel = epochs == epoch
        out[sel] = _epoch_permutation(seed, int(epoch), num_examples)[offsets[sel]]
    return out


def step_indices(seed: int, step: int, n_critic: int, batch_size: int, num_examples: int) -> np.ndarray:
    """(n_critic, batch_size) dataset indices of one train step's global batch."""
    per_step = n_critic * batch_size
    return stream_indices(seed, step * per_step, per_step, num_examples).reshape(n_critic, batch_size)


def local_columns(batch_size: int) -> slice:
    """This process's slice of the global batch axis (processes own contiguous slices)."""
    per_process = batch_size // jax.process_count()
    start = jax.process_index() * per_process
    return slice(start, start + per_process)


def host_batch(dataset: ImageDataset, config: ml_collections.ConfigDict, step: int) -> dict[str, np.ndarray]:
    """This process's part of step ``step``'s batch: uint8 images and int32 labels."""
    idx = step_indices(config.seed, step, config.n_critic, config.batch_size, len(dataset))
    idx = idx[:, local_columns(config.batch_size)]
    flat = np.sort(idx.ravel())  # sorted reads are kinder to memory-mapped arrays
    order = np.searchsorted(flat, idx.ravel())
    images = np.asarray(dataset.images[flat])[order].reshape(*idx.shape, *dataset.images.shape[1:])
    return {"image": images, "label": dataset.labels[idx]}


def to_global(batch: dict[str, np.ndarray], mesh: Mesh, batch_size: int) -> dict[str, jax.Array]:
    """Assembles each process's slice into global arrays sharded on axis 1 (the batch axis)."""
    sharding = parallel.data_sharded(mesh, leading_unsharded=1)

    def make(x: np.ndarray) -> jax.Array:
        global_shape = (x.shape[0], batch_size, *x.shape[2:])
        return jax.make_array_from_process_local_data(sharding, x, global_shape)

    return {k: make(v) for k, v in batch.items()}


def _prefetch(produce, steps: range, size: int) -> Iterator:
    """Runs ``produce(step)`` for each step in a daemon thread, ``size`` results ahead."""
    results: queue.Queue = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def offer(entry) -> bool:
        """Queues ``entry`` unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                results.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def worker():
        try:
            for step in steps:
                if not offer(("ok", produce(step))):
                    return
        except BaseException as e:  # re-raised in the consumer, with its traceback
            offer(("error", e))

    thread = threading.Thread(target=worker, daemon=True, name="gan_jax-prefetch")
    thread.start()
    try:
        for _ in steps:
            kind, item = results.get()
            if kind == "error":
                raise item
            yield item
    finally:
        # Wait for the worker: a daemon thread still inside a device transfer when the
        # interpreter exits (a run stopped early) aborts the process.
        stop.set()
        thread.join()


def batches(
    dataset: ImageDataset, config: ml_collections.ConfigDict, mesh: Mesh, start_step: int, end_step: int
) -> Iterator[dict[str, jax.Array]]:
    """Global batches for steps [start_step, end_step): ``image`` uint8 (K, B, R, R, C),
    ``label`` int32 (K, B), sharded over the mesh's ``'data'`` axis."""
    produce = lambda step: to_global(host_batch(dataset, config, step), mesh, config.batch_size)  # noqa: E731
    return _prefetch(produce, range(start_step, end_step), config.dataset.prefetch)
