"""Sampling from the generator and laying samples out as image grids.

Samples come from the EMA generator in inference mode. Its BatchNorm layers need
statistics that match the *EMA* weights, which the running averages collected during
training (with the raw weights) do not. `standing_stats` recomputes them by running
the EMA generator over a fixed batch of noise, as BigGAN's "standing statistics"
do (Brock et al. 2019, appendix C.1). Every image is then a function of its own noise
vector only, whatever else is in the batch.
"""

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

PyTree = Any


def standing_stats(g_model: nn.Module, params: PyTree, g_vars: dict, z: jax.Array,
                   labels: jax.Array) -> dict:
    """BatchNorm statistics of ``g_model`` with ``params`` over the batch (z, labels)."""
    if "batch_stats" not in g_vars:
        return g_vars
    # momentum 0: the "running" average becomes exactly this batch's statistics. Other
    # collections (spectral-norm vectors) must be mutable in training mode; their updates
    # are dropped.
    _, updates = g_model.clone(bn_momentum=0.0).apply(
        {"params": params, **g_vars}, z, labels, train=True, mutable=list(g_vars))
    return {**g_vars, "batch_stats": updates["batch_stats"]}


def make_sampler(g_model: nn.Module) -> Callable[..., jax.Array]:
    """jit-compiled ``(params, g_vars, z, labels, standing_z, standing_labels) -> images``
    in [-1, 1], with BatchNorm statistics recomputed on the standing batch."""

    @jax.jit
    def sampler(params, g_vars, z, labels, standing_z, standing_labels):
        stats = standing_stats(g_model, params, g_vars, standing_z, standing_labels)
        return g_model.apply({"params": params, **stats}, z, labels, train=False)

    return sampler


def class_grid_inputs(z: jax.Array, num_classes: int) -> tuple[jax.Array, jax.Array, int]:
    """(z, labels, rows) for a grid with one row per class and one noise vector per column.

    Unconditional models (``num_classes`` 0) get all of ``z`` and a square-ish grid.
    """
    if not num_classes:
        return z, jnp.zeros((len(z),), jnp.int32), 0
    cols = max(1, len(z) // num_classes)
    labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), cols)
    return jnp.tile(z[:cols], (num_classes, 1)), labels, num_classes


def to_uint8(images: np.ndarray | jax.Array) -> np.ndarray:
    """[-1, 1] floats → uint8 [0, 255], rounding to nearest."""
    x = np.asarray(images, np.float32)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, rows: int | None = None, pad: int = 2) -> np.ndarray:
    """(N, H, W, C) uint8 → one (rows·(H+pad)+pad, cols·(W+pad)+pad, C) image, row-major."""
    n, h, w, c = images.shape
    cols = int(np.ceil(np.sqrt(n))) if rows is None else int(np.ceil(n / rows))
    rows = int(np.ceil(n / cols))
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = images[i]
    return grid


def save_png(image: np.ndarray, path: str) -> None:
    """Writes an (H, W, 1|3) uint8 array as PNG."""
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
