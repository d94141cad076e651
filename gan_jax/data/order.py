"""Which examples a train step reads, and reading them: a pure function of (seed, step).

Examples are drawn without replacement, epoch after epoch, each epoch a fresh
permutation seeded by (seed, epoch). Position ``p`` of the stream is example
``perm[epoch = p // E][p % E]`` of an epoch of E examples, and step ``s`` takes
positions ``[s·K·B, (s+1)·K·B)`` with K real batches per step (``n_critic``, plus one
when G's phase reads its own), B = ``batch_size``.

The epoch is the dataset's N examples, or 2N with ``mirror`` (NVlabs' ``--mirror``):
example ``N + i`` is image ``i`` flipped left-right, with its label. The flip is part of
the index, not random, so it is as reproducible as the order.

A dataset here is anything with ``len()``, ``labels`` (int32, one per example) and
``read(indices) -> uint8 (n, R, R, C)`` (`gan_jax.data.sources`). This module imports no
JAX: `gan_jax.data.pipeline` runs `host_batch` in worker processes too.
"""

import functools

import numpy as np


@functools.lru_cache(maxsize=4)
def _epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64([seed, epoch, 0x6A4]))
    perm = rng.permutation(num_examples)
    perm.flags.writeable = False
    return perm


def stream_indices(seed: int, start: int, count: int, num_examples: int) -> np.ndarray:
    """Example indices at stream positions [start, start + count), epochs of ``num_examples``."""
    positions = np.arange(start, start + count, dtype=np.int64)
    epochs, offsets = np.divmod(positions, num_examples)
    out = np.empty(count, np.int64)
    for epoch in np.unique(epochs):
        sel = epochs == epoch
        out[sel] = _epoch_permutation(seed, int(epoch), num_examples)[offsets[sel]]
    return out


def step_indices(seed: int, step: int, batches: int, batch_size: int, num_examples: int) -> np.ndarray:
    """(batches, batch_size) example indices of one train step's global batch."""
    per_step = batches * batch_size
    return stream_indices(seed, step * per_step, per_step, num_examples).reshape(batches, batch_size)


def epoch_length(dataset, mirror: bool) -> int:
    """Examples in an epoch: the dataset's N, or 2N with ``mirror``."""
    return len(dataset) * (2 if mirror else 1)


def read_examples(dataset, indices, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, R, R, C) and int32 labels (n,) of examples ``indices`` (in
    [0, `epoch_length`)), in their order; with ``mirror``, example N + i is image i flipped
    left-right."""
    indices = np.asarray(indices, np.int64).reshape(-1)
    n = len(dataset)
    base = indices % n if mirror else indices
    images = dataset.read(base)
    if mirror:
        flip = indices >= n
        images[flip] = images[flip][:, :, ::-1]
    return images, dataset.labels[base]


def host_batch(
    dataset, seed: int, batches: int, batch_size: int, columns: slice, mirror: bool, step: int
) -> dict[str, np.ndarray]:
    """The ``columns`` of step ``step``'s global batch: ``image`` uint8 (K, b, R, R, C) and
    ``label`` int32 (K, b), b the columns' width."""
    idx = step_indices(seed, step, batches, batch_size, epoch_length(dataset, mirror))[:, columns]
    images, labels = read_examples(dataset, idx.ravel(), mirror)
    return {"image": images.reshape(*idx.shape, *images.shape[1:]), "label": labels.reshape(idx.shape)}
