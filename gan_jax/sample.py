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


def standing_stats(g_model: nn.Module, params: PyTree, g_vars: dict, z: jax.Array) -> dict:
    """BatchNorm statistics of ``g_model`` with ``params`` over the batch ``z``."""
    if "batch_stats" not in g_vars:
        return g_vars
    # momentum 0: the "running" average becomes exactly this batch's statistics.
    _, updates = g_model.clone(bn_momentum=0.0).apply(
        {"params": params, **g_vars}, z, train=True, mutable=["batch_stats"])
    return {**g_vars, **updates}


def make_sampler(g_model: nn.Module) -> Callable[[PyTree, dict, jax.Array, jax.Array], jax.Array]:
    """jit-compiled ``(params, g_vars, z, standing_z) -> images in [-1, 1]``."""

    @jax.jit
    def sampler(params, g_vars, z, standing_z):
        stats = standing_stats(g_model, params, g_vars, standing_z)
        return g_model.apply({"params": params, **stats}, z, train=False)

    return sampler


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
