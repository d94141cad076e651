"""A trained StyleGAN2 generator in its two halves: the mapping z → ws and the synthesis
ws → image (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN",
section 2 and Figure 2). The figures, the videos' w-space walks and the explorer move
through W with them.

**Mapping.** ws = f(z, c) repeated once per synthesis layer, shape (N, num_ws, w_dim),
truncated as w' = w̄ + ψ (w − w̄) with w̄ the generator's tracked mean w (ψ = 1: none).
**Synthesis.** g(ws) with noise mode 'const' (the stored per-layer noise images) or
'none'. g(f(z, c)) is the image the whole generator gives for (z, c), the same uint8
pixels as `TrainedGenerator` (tested).

**Style mixing** (Karras et al. 2019, "A Style-Based Generator Architecture for GANs",
section 3.1): layer l of the mixed ws comes from the second ws where ``layers`` names l.
Early layers carry the coarse styles (pose, shape), late ones the fine (texture, colour).

Both halves run ``batch_size`` rows at a time through one compiled program each, the last
batch padded, so the results do not depend on how many rows a call asks for.
"""

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.models import build_models, stylegan2
from gan_jax.run.generator import NOISE_MODES, TrainedGenerator, check_psi, finite_uint8


def require_stylegan(config, what: str = "this tool") -> None:
    """`ConfigError` unless the run's generator is a StyleGAN2."""
    if config.model.architecture != "stylegan2":
        raise ConfigError(f"{what} needs a StyleGAN generator; the run is {config.model.architecture!r}")


def _batched(fn: Callable, arrays: tuple, size: int) -> jax.Array:
    """``fn`` over the rows of ``arrays`` (equal lengths), ``size`` rows at a time, the last
    batch padded by repeating its last row."""
    n = len(arrays[0])
    pad = -n % size
    arrays = [jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)]) for a in arrays]
    return jnp.concatenate([fn(*(a[i : i + size] for a in arrays)) for i in range(0, n + pad, size)])[:n]


@dataclasses.dataclass(frozen=True)
class StyleSpace:
    """The two halves of ``gen``: ``ws(z, labels, psi)`` and ``images(ws, noise_mode)``."""

    gen: TrainedGenerator
    num_ws: int
    w_dim: int
    _mapping: Callable  # jitted (z, labels, psi) -> ws
    _synthesis: Callable  # jitted (ws, noise_mode) -> images in [-1, 1]

    def ws(self, z, labels, psi: float = 1.0) -> jax.Array:
        """(N, num_ws, w_dim) ws of noise ``z`` (N, z_dim) and ``labels`` (int (N,) or
        class weights (N, K)), truncated by ``psi``."""
        psi = jnp.float32(check_psi(psi))
        z, labels = jnp.asarray(z, jnp.float32), jnp.asarray(labels)
        if not len(z):
            return jnp.zeros((0, self.num_ws, self.w_dim), jnp.float32)
        return _batched(lambda z, labels: self._mapping(z, labels, psi), (z, labels), self.gen.batch_size)

    def images(self, ws, noise_mode: str = "const") -> np.ndarray:
        """uint8 images (N, H, W, C) of ``ws`` (N, num_ws, w_dim)."""
        if noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode={noise_mode!r} must be one of {NOISE_MODES}")
        ws = jnp.asarray(ws, jnp.float32)
        if not len(ws):
            return np.zeros((0, *self.gen.image_shape), np.uint8)
        out = _batched(lambda ws: self._synthesis(ws, noise_mode), (ws,), self.gen.batch_size)
        return finite_uint8(jax.device_get(out), f"the generator of step {self.gen.step}")

    def seed_ws(self, seeds, class_: int | None = None, psi: float = 1.0) -> jax.Array:
        """ws of the seeds, their z and classes drawn as `TrainedGenerator.seed_inputs` draws them."""
        z, labels = self.gen.seed_inputs(seeds, class_)
        return self.ws(z, labels, psi)


@functools.partial(jax.jit, static_argnames="g_model")
def _mapping(g_model, variables, z, labels, psi):
    return g_model.apply(variables, z, labels, truncation_psi=psi, train=False, method="mapping")


@functools.partial(jax.jit, static_argnames=("g_model", "noise_mode"))
def _synthesis(g_model, variables, ws, noise_mode):
    return g_model.apply(variables, ws, noise_mode=noise_mode, train=False, method="synthesis")


def of(gen: TrainedGenerator, what: str = "this tool") -> StyleSpace:
    """The `StyleSpace` of a StyleGAN2 `TrainedGenerator`. Its two programs are compiled
    once per network shape and batch size, whichever generator's weights they run."""
    require_stylegan(gen.config, what)
    g_model, _ = build_models(gen.config)
    mapping = functools.partial(_mapping, g_model, gen.variables)
    synthesis = functools.partial(_synthesis, g_model, gen.variables)
    config = gen.config
    num_ws = stylegan2.num_ws(config.dataset.resolution)
    return StyleSpace(gen, num_ws, int(config.model.stylegan2.w_dim), mapping, synthesis)


def mix(ws: jax.Array, other: jax.Array, layers) -> jax.Array:
    """ws with the layers ``layers`` (indices into num_ws) taken from ``other``
    (both (N, num_ws, w_dim), or broadcastable)."""
    num_ws = ws.shape[-2]
    layers = list(layers)
    if not layers or min(layers) < 0 or max(layers) >= num_ws:
        raise ConfigError(f"the mixed layers must be among 0 to {num_ws - 1} of this generator, got {layers}")
    take = np.isin(np.arange(num_ws), layers)[:, None]
    return jnp.where(take, other, ws)
