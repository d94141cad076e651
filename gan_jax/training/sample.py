"""Sampling from the generator, latent interpolation, and laying samples out as image grids.

Samples come from the EMA generator in inference mode. Its BatchNorm layers need
statistics that match the *EMA* weights, which the running averages collected during
training (with the raw weights) do not. `standing_stats` recomputes them by running
the EMA generator over a fixed batch of noise, as BigGAN's "standing statistics"
do (Brock et al. 2019, appendix C.1). Every image is then a function of its own noise
vector only, whatever else is in the batch. Every sampler of a run takes those
statistics from the same batch, `standing_batch`, drawn from the run's ``sample`` key,
through one `Sampler` (`make_sampler`): the trainer's grids, ``generate`` and the evaluator
all use it.
"""

import dataclasses
from typing import Any, Callable

import flax.linen as nn
from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from gan_jax.errors import ConfigError
from gan_jax.training.keys import sample_labels, sample_noise

PyTree = Any


def standing_stats(g_model: nn.Module, params: PyTree, g_vars: dict, z: jax.Array, labels: jax.Array) -> dict:
    """BatchNorm statistics of ``g_model`` with ``params`` over the batch (z, labels)."""
    if "batch_stats" not in g_vars:
        return g_vars
    # momentum 0: the "running" average becomes exactly this batch's statistics. Other
    # collections (spectral-norm vectors) must be mutable in training mode; their updates
    # are dropped.
    _, updates = g_model.clone(bn_momentum=0.0).apply(
        {"params": params, **g_vars}, z, labels, train=True, mutable=list(g_vars)
    )
    return {**g_vars, "batch_stats": updates["batch_stats"]}


def standing_batch(
    sample_key: jax.Array, size: int, z_dim: int, num_classes: int
) -> tuple[jax.Array, jax.Array]:
    """(z, labels) of the fixed batch whose statistics `standing_stats` computes, a function
    of the run's ``sample`` key (`gan_jax.training.keys.root_keys`) alone."""
    _, z_key = jax.random.split(sample_key)  # the first half draws the training grids' noise
    return (
        sample_noise(z_key, size, z_dim),
        sample_labels(jax.random.fold_in(sample_key, 2), size, num_classes),
    )


@dataclasses.dataclass(frozen=True)
class Sampler:
    """The EMA generator in inference mode, with standing statistics (one per run).

    ``stats(params, g_vars)`` recomputes the BatchNorm statistics of ``params`` on the run's
    standing batch (a no-op for generators without BatchNorm); ``apply(params, stats, z,
    labels)`` is the pure generator call, for use inside other compiled functions;
    calling the sampler does both, compiled: ``sampler(params, g_vars, z, labels)``.
    ``g_kwargs`` are passed to the generator (StyleGAN's ``truncation_psi``, ``noise_mode``).
    """

    g_model: nn.Module
    standing_z: jax.Array
    standing_labels: jax.Array
    g_kwargs: dict
    _apply: Callable
    _compiled_stats: Callable
    _compiled_apply: Callable

    def stats(self, params: PyTree, g_vars: dict) -> dict:
        return self._compiled_stats(params, g_vars, self.standing_z, self.standing_labels)

    def apply(self, params: PyTree, stats: dict, z: jax.Array, labels: jax.Array) -> jax.Array:
        return self._apply(params, stats, z, labels)

    def __call__(self, params: PyTree, g_vars: dict, z: jax.Array, labels: jax.Array) -> jax.Array:
        return self._compiled_apply(params, self.stats(params, g_vars), z, labels)


def make_sampler(
    g_model: nn.Module, config: ml_collections.ConfigDict, sample_key: jax.Array, **g_kwargs: Any
) -> Sampler:
    """The run's `Sampler`: standing statistics from `standing_batch` of ``sample_key``."""
    z, labels = standing_batch(
        sample_key, config.sample.standing_stats, config.model.z_dim, config.model.num_classes
    )
    return sampler_on(g_model, z, labels, **g_kwargs)


def sampler_on(g_model: nn.Module, z: jax.Array, labels: jax.Array, **g_kwargs: Any) -> Sampler:
    """A `Sampler` whose standing statistics come from the batch (z, labels)."""
    stats = jax.jit(lambda p, v, sz, sy: standing_stats(g_model, p, v, sz, sy))

    def apply(params, stats, z, labels):
        return g_model.apply({"params": params, **stats}, z, labels, train=False, **g_kwargs)

    return Sampler(g_model, z, labels, dict(g_kwargs), apply, stats, jax.jit(apply))


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


def make_grid(
    images: np.ndarray, rows: int | None = None, pad: int = 2, cols: int | None = None
) -> np.ndarray:
    """(N, H, W, C) uint8 → one (rows·(H+pad)+pad, cols·(W+pad)+pad, C) image, row-major.

    Without ``cols`` the grid is as wide as ``rows`` needs (square-ish without either);
    with both, cells past the N-th stay empty (zero)."""
    n, h, w, c = images.shape
    if cols is None:
        cols = int(np.ceil(np.sqrt(n))) if rows is None else int(np.ceil(n / rows))
    if rows is None or rows * cols < n:
        rows = int(np.ceil(n / cols))
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def save_png(image: np.ndarray, path: str) -> None:
    """Writes an (H, W, 1|3) uint8 array as PNG."""
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


# The sampling options' former names: BigGAN's z truncation and StyleGAN's ψ were three
# letters apart (``truncation``, ``trunc``). The former names still work, with a notice.
FORMER_NAMES = {"truncation": "z_truncation", "trunc": "psi"}


def rename_former(options: dict, spell: str = "{}=") -> dict:
    """``options`` with each former name (`FORMER_NAMES`) given replaced by today's, and one
    notice line for each, the names spelled by ``spell`` ('{}=' for keywords, '--{}' for
    flags); a former and a new name of one option together are refused."""
    options = dict(options)
    for old, new in FORMER_NAMES.items():
        if options.get(old) is None:
            options.pop(old, None)
            continue
        if options.get(new) is not None:
            raise ConfigError(f"give {spell.format(new)} alone: {spell.format(old)} is its former name")
        logging.warning(f"{spell.format(old)} is now {spell.format(new)}; the former name will go")
        options[new] = options.pop(old)
    return options


def seed_noise(seeds: np.ndarray | list[int], z_dim: int, truncation: float | None = None) -> jax.Array:
    """(N, z_dim) noise, row i a function of ``seeds[i]`` alone: z_i ~ N(0, I) from key(seed_i).

    With ``truncation`` t, z_i is drawn from the truncated normal on [-t, t]^z_dim instead:
    BigGAN's truncation trick (Brock et al. 2019, section 3.1), which trades variety for
    fidelity as t shrinks. Its density is

        p(z) ∝ exp(-‖z‖²/2) · 1[|z_j| ≤ t for every j],

    the normal with each coordinate outside the range redrawn until it falls inside;
    drawn here by inverse CDF, so a seed gives one z per t.
    """
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
    if truncation is None:
        draw = lambda k: jax.random.normal(k, (z_dim,), jnp.float32)  # noqa: E731
    else:
        draw = lambda k: jax.random.truncated_normal(k, -truncation, truncation, (z_dim,), jnp.float32)  # noqa: E731
    return jax.vmap(draw)(keys)


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """(1 − t)·a + t·b for each t: vectors (D,) and times (T,) → (T, D)."""
    t = jnp.asarray(t, jnp.float32)[:, None]
    return (1.0 - t) * a + t * b


def slerp(a: jax.Array, b: jax.Array, t: jax.Array, eps: float = 1e-6) -> jax.Array:
    """Spherical linear interpolation (Shoemake 1985, "Animating rotation with quaternion
    curves"), applied to GAN latents as White 2016 ("Sampling Generative Networks") does:

        slerp(a, b; t) = sin((1 − t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b,   cos Ω = a·b / (‖a‖‖b‖)

    For unit vectors the path is the great-circle arc from a to b at constant speed, every
    point of unit norm; in a high-dimensional Gaussian, where samples concentrate near a
    sphere, it keeps the norm typical where lerp's midpoints shrink towards the origin.
    When a and b are (anti-)parallel, sin Ω ≈ 0 (below ``eps``) and the arc is undefined
    or degenerate: lerp is used. Vectors (D,) and times (T,) → (T, D); t = 0 and 1 give
    a and b exactly.
    """
    t = jnp.asarray(t, jnp.float32)[:, None]
    a_hat, b_hat = a / jnp.linalg.norm(a), b / jnp.linalg.norm(b)
    # Ω = arccos(â·b̂) in a form that stays accurate near 0 and π (Kahan), where arccos
    # of a rounded cosine is off by ~√ε.
    omega = 2.0 * jnp.arctan2(jnp.linalg.norm(a_hat - b_hat), jnp.linalg.norm(a_hat + b_hat))
    sin = jnp.sin(omega)
    safe = jnp.where(sin < eps, 1.0, sin)
    spherical = jnp.sin((1.0 - t) * omega) / safe * a + jnp.sin(t * omega) / safe * b
    return jnp.where(sin < eps, lerp(a, b, t[:, 0]), spherical)


def interpolation_path(points: jax.Array, frames: int, interpolate=lerp) -> jax.Array:
    """(K, D) points → ((K − 1)·(frames − 1) + 1, D): ``frames`` evenly spaced times per
    segment, both ends included, each shared point once."""
    t = jnp.linspace(0.0, 1.0, frames)
    segments = [interpolate(points[k], points[k + 1], t if k == 0 else t[1:]) for k in range(len(points) - 1)]
    return jnp.concatenate(segments, axis=0) if segments else points[:1]
