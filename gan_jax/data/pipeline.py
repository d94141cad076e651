"""Input pipeline: a dataset → global, sharded batches, one per train step.

The batch of step ``s`` is a pure function of (seed, s) (`gan_jax.data.order`: epochs of
fresh permutations, and ``dataset.mirror``'s x-flips), so there is no iterator state to
save: a run resumed at step s reads exactly the batches an uninterrupted one would, on
any number of hosts, devices or workers.

A dataset is what `gan_jax.data.sources.load_dataset` returns: ``len()``, ``labels``,
``num_classes``, ``description``, ``in_memory`` and ``read(indices) -> uint8 (n, R, R, C)``;
every source goes through ``read``. A step reads K real batches of B, K =
`gan_jax.config.real_batches_per_step` (one per D update, and G's own when it has one).
Each process reads only its own columns of the (K, B) batch (`local_columns`) and hands them to `jax.make_array_from_process_local_data`,
giving one global ``jax.Array`` sharded on the batch axis. A background thread prepares
and transfers ``dataset.prefetch`` batches ahead, overlapping the host work with the
running step. Images travel as uint8 and are scaled to [-1, 1] inside the step.

Who reads. An in-memory dataset (IDX, npz, folder, synthetic, a ``cache_dir`` copy) is
read in that thread by indexing. A streamed one (a pack, tfds) is read and decoded there
too when ``dataset.workers=0``; with ``dataset.workers=W`` > 0, W grain worker processes
each make whole host batches (step t by worker t mod W), which the thread takes in step
order. Host memory is then bounded by the batches in flight, at most about ``3W +
prefetch`` of them (per worker one being made, one queued and one taken ahead by grain
in this process; ``prefetch`` on device), whatever the dataset's size.
"""

import functools
import os
import queue
import threading
from typing import Iterator

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_jax import parallel
from gan_jax.errors import DataError
from gan_jax.data import order as data_order
from gan_jax.config import real_batches_per_step
from gan_jax.data.order import step_indices, stream_indices  # noqa: F401 (data.step_indices)


def local_columns(batch_size: int) -> slice:
    """This process's slice of the global batch axis (processes own contiguous slices)."""
    per_process = batch_size // jax.process_count()
    start = jax.process_index() * per_process
    return slice(start, start + per_process)


def _reader(dataset, config: ml_collections.ConfigDict):
    """``step -> this process's host batch``, a picklable partial of `data_order.host_batch`."""
    return functools.partial(
        data_order.host_batch,
        dataset,
        config.seed,
        real_batches_per_step(config),
        config.batch_size,
        local_columns(config.batch_size),
        config.dataset.mirror,
    )


def host_batch(dataset, config: ml_collections.ConfigDict, step: int) -> dict[str, np.ndarray]:
    """This process's part of step ``step``'s batch: uint8 images and int32 labels."""
    return _reader(dataset, config)(step)


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
    dataset, config: ml_collections.ConfigDict, mesh: Mesh, start_step: int, end_step: int
) -> Iterator[dict[str, jax.Array]]:
    """Global batches for steps [start_step, end_step): ``image`` uint8 (K, B, R, R, C),
    ``label`` int32 (K, B), sharded over the mesh's ``'data'`` axis. Closing the iterator
    stops the prefetch thread (and the workers)."""
    steps = range(start_step, end_step)
    if config.dataset.workers and not dataset.in_memory and steps:
        return _batches_from_workers(dataset, config, mesh, steps)
    read = _reader(dataset, config)
    produce = lambda step: to_global(read(step), mesh, config.batch_size)  # noqa: E731
    return _prefetch(produce, steps, config.dataset.prefetch)


def _batches_from_workers(
    dataset, config: ml_collections.ConfigDict, mesh: Mesh, steps: range
) -> Iterator[dict[str, jax.Array]]:
    """`batches` with the host batches made in ``dataset.workers`` grain processes, in step order."""
    import grain  # only when workers are asked for

    _grain_flags_outside_absl_app()
    _quiet_shared_memory_cleanup()
    pipeline = (
        grain.MapDataset.range(steps.start, steps.stop)
        .map(_reader(dataset, config))
        .to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
        .mp_prefetch(
            grain.MultiprocessingOptions(num_workers=config.dataset.workers, per_worker_buffer_size=1)
        )
    )
    host = iter(pipeline)
    produce = functools.partial(_next_global, host, mesh, config.batch_size)
    try:
        yield from _prefetch(produce, steps, config.dataset.prefetch)
    finally:
        host.close()
        del (
            host,
            produce,
        )  # freed now: grain's iterator, finalised at interpreter exit instead, prints an error


def _next_global(host: Iterator, mesh: Mesh, batch_size: int, step: int) -> dict[str, jax.Array]:
    """The next host batch of ``host`` (step ``step``'s) as global arrays; a worker that
    died (killed, out of memory) is a `DataError` naming it."""
    problem = None
    try:
        return to_global(next(host), mesh, batch_size)
    except RuntimeError as e:
        if "Worker process was terminated" not in str(e):
            raise
        problem = " ".join(str(e).split(".")[0].split())
    # Raised outside the handler, so that grain's error and the buffers its frames hold are freed.
    raise DataError(
        f"a data worker process ended while reading step {step + 1}'s batch ({problem}; -9 is a "
        f"kill, often for lack of memory); run the same command to resume from the last "
        f"checkpoint, with fewer --config.dataset.workers if memory is short"
    )


def _quiet_shared_memory_cleanup() -> None:
    """A worker that dies (a kill, a damaged record) leaves grain's shared-memory buffers
    in flight; Python's resource tracker (a process started with the workers, reading this
    variable) removes them at exit and would print a warning after the run's own one-line
    error. The removal stays; only that warning goes."""
    quiet = "ignore:resource_tracker:UserWarning"
    current = os.environ.get("PYTHONWARNINGS", "")
    if quiet not in current.split(","):
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [current, quiet]))


def _grain_flags_outside_absl_app() -> None:
    """grain (0.2) reads its absl flag ``grain_enable_multiprocess_worker_profiling`` without
    a default when JAX is loaded, which raises where absl has not parsed the command line
    (a notebook, pytest, a script without ``absl.app``); marked as given, it reads its default."""
    from absl import flags

    name = "grain_enable_multiprocess_worker_profiling"
    if not flags.FLAGS.is_parsed() and name in flags.FLAGS:
        flags.FLAGS[name].present = max(flags.FLAGS[name].present, 1)
