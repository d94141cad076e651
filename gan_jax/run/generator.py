"""A trained generator, ready to sample: the EMA weights of a run with their standing
statistics, read from a checkpoint (`from_checkpoint`) or from an exported file
(`gan_jax.run.exported.load_generator`), sampled by one function either way.

    gen = from_checkpoint("runs/demo")            # or gan_jax.load_generator("g.safetensors")
    images = gen(seeds=[0, 1, 2])                  # uint8 (3, H, W, C)
    images = gen(z=z, labels=labels)               # z (N, z_dim); labels (N,) int or (N, K) weights

A seed gives the image ``python -m gan_jax.tools.generate --seeds`` gives for it, pixel for
pixel, since generate samples through this class: the noise of key(seed)
(`sample.seed_noise`; ``z_truncation``: BigGAN's z truncation), the class ``class_`` or
seed mod num_classes, the variables ``{"params": EMA weights, **collections}`` with the
BatchNorm statistics recomputed on the run's standing batch (`sample.standing_stats`), one
compiled call per ``batch_size`` images (the last batch padded) and the same rounding to
uint8. StyleGAN2 generators also take ``psi`` (ψ, w-space truncation) and ``noise_mode``
('const' or 'none'); the former names ``truncation`` and ``trunc`` still work, with a notice.
"""

import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.config.dataset import image_shape
from gan_jax.errors import ConfigError
from gan_jax.models import build_models
from gan_jax.training import sample

NOISE_MODES = ("const", "none")
MAX_SEED = 2**32 - 1
PSI_LIMIT = 10.0  # |ψ| beyond this extrapolates w far past anything the generator saw


def check_psi(psi: float, name: str = "psi") -> float:
    """ψ as a float; `ConfigError` unless it is finite and within ±`PSI_LIMIT` (ψ = 1: no
    truncation, 0: w̄ itself; values outside [0, 1] extrapolate, a little of which is common)."""
    psi = float(psi)
    if not math.isfinite(psi) or abs(psi) > PSI_LIMIT:
        raise ConfigError(
            f"{name}={psi:g} must be a finite number in [-{PSI_LIMIT:g}, {PSI_LIMIT:g}] "
            f"(1: no truncation, 0: the average image)"
        )
    return psi


def finite_uint8(images, what: str) -> np.ndarray:
    """`sample.to_uint8` of images that must be finite: a NaN would be written as black."""
    images = np.asarray(images)
    if not np.isfinite(images).all():
        raise ConfigError(
            f"{what} made non-finite pixels (NaN or Inf in {int((~np.isfinite(images)).sum())} values); "
            f"nothing was written: check the sampling options, or evaluate an earlier checkpoint"
        )
    return sample.to_uint8(images)


def check_z_truncation(t: float, name: str = "z_truncation") -> float:
    """t as a float; `ConfigError` unless it is finite and positive (z is drawn in [-t, t])."""
    t = float(t)
    if not math.isfinite(t) or t <= 0:
        raise ConfigError(
            f"{name}={t:g} must be a finite positive number (z is drawn in [-t, t]; 1 to 2 is usual)"
        )
    return t


def g_kwargs(config: ml_collections.ConfigDict, psi: float | None, noise_mode: str | None) -> tuple:
    """StyleGAN2's call options, as a hashable static argument; refused for other generators."""
    if psi is None and noise_mode is None:
        return ()
    if config.model.architecture != "stylegan2":
        raise ConfigError(
            f"psi and noise_mode are for StyleGAN generators (this one is "
            f"{config.model.architecture!r}); BigGAN-style z truncation is z_truncation"
        )
    if noise_mode is not None and noise_mode not in NOISE_MODES:
        raise ConfigError(f"noise_mode={noise_mode!r} must be one of {NOISE_MODES}")
    options = (("truncation_psi", None if psi is None else check_psi(psi)), ("noise_mode", noise_mode))
    return tuple((k, v) for k, v in options if v is not None)


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
    """A trained EMA generator: ``gen(seeds=...)`` or ``gen(z=..., labels=...)`` → uint8
    images (N, H, W, C). ``config`` is the run's config, ``step`` the checkpoint's step;
    ``psi`` and ``noise_mode`` are the defaults of every call (StyleGAN2)."""

    config: ml_collections.ConfigDict
    step: int
    variables: dict
    batch_size: int
    _apply: Callable  # jitted (variables, z, labels, g_kwargs) -> images in [-1, 1]
    psi: float | None = None
    noise_mode: str | None = None

    @property
    def num_classes(self) -> int:
        return int(self.config.model.num_classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the images."""
        return (*image_shape(self.config.dataset), int(self.config.dataset.channels))

    @property
    def z_dim(self) -> int:
        return int(self.config.model.z_dim)

    def seed_labels(self, seeds, class_: int | None = None) -> np.ndarray:
        """int32 class of each seed's image: ``class_``, else seed mod num_classes (0 when
        the generator is unconditional)."""
        seeds, k = np.asarray(seeds, np.int64).reshape(-1), self.num_classes
        if class_ is None:
            return (seeds % k).astype(np.int32) if k else np.zeros(len(seeds), np.int32)
        if not k:
            raise ConfigError(f"class_={class_}: the generator is unconditional")
        if not 0 <= class_ < k:
            raise ConfigError(f"class_={class_} is out of range: the generator has {k} classes, 0 to {k - 1}")
        return np.full(len(seeds), class_, np.int32)

    def seed_inputs(self, seeds, class_: int | None = None, z_truncation: float | None = None):
        """(z (N, z_dim), int32 labels (N,)) of the seeds, as generate draws them."""
        seeds = np.asarray(seeds, np.int64).reshape(-1)
        if len(seeds) and (seeds.min() < 0 or seeds.max() > MAX_SEED):
            raise ConfigError(f"seeds go from 0 to {MAX_SEED}")
        if z_truncation is not None:
            z_truncation = check_z_truncation(z_truncation)
        return sample.seed_noise(seeds, self.z_dim, z_truncation), self.seed_labels(seeds, class_)

    def images(self, z, labels, batch_size: int | None = None, psi=None, noise_mode=None) -> np.ndarray:
        """uint8 images of noise ``z`` (N, z_dim) and ``labels`` (int (N,) or weights (N, K)),
        ``batch_size`` (default the generator's) at a time through one compiled program."""
        options = g_kwargs(self.config, self.psi if psi is None else psi, noise_mode or self.noise_mode)
        z, labels, size = jnp.asarray(z), jnp.asarray(labels), batch_size or self.batch_size
        n = len(z)
        if not n:
            return np.zeros((0, *self.image_shape), np.uint8)
        pad = -n % size
        z, labels = (jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)]) for a in (z, labels))
        chunks = [
            finite_uint8(
                jax.device_get(self._apply(self.variables, z[i : i + size], labels[i : i + size], options)),
                f"the generator of step {self.step}",
            )
            for i in range(0, n + pad, size)
        ]
        return np.concatenate(chunks)[:n]

    def __call__(
        self,
        seeds=None,
        *,
        z=None,
        labels=None,
        class_=None,
        z_truncation=None,
        psi=None,
        noise_mode=None,
        **former,
    ) -> np.ndarray:
        """uint8 images (N, H, W, C) of ``seeds``, or of noise ``z`` (N, z_dim) with ``labels``
        (int (N,) classes or float (N, num_classes) class weights; omit for an
        unconditional generator). ``former``: ``truncation``, ``trunc`` (with a notice)."""
        if former:
            renamed = sample.rename_former(dict(former, z_truncation=z_truncation, psi=psi))
            z_truncation, psi = renamed.pop("z_truncation", None), renamed.pop("psi", None)
            if renamed:
                raise TypeError(f"unexpected keyword arguments {sorted(renamed)}")
        if (seeds is None) == (z is None):
            raise ConfigError("give seeds=[...] or z=array (with labels= for a conditional generator)")
        if seeds is not None:
            if labels is not None:
                raise ConfigError("labels= goes with z=; with seeds= choose the class by class_=")
            z, labels = self.seed_inputs(seeds, class_, z_truncation)
        else:
            if class_ is not None or z_truncation is not None:
                raise ConfigError("class_= and z_truncation= go with seeds=; with z= pass labels=")
            z, labels = self._check_inputs(z, labels)
        return self.images(z, labels, psi=psi, noise_mode=noise_mode)

    def _check_inputs(self, z, labels) -> tuple[np.ndarray, np.ndarray]:
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ConfigError(f"z has shape {z.shape}; the generator takes (N, {self.z_dim})")
        k = self.num_classes
        if labels is None:
            if k:
                raise ConfigError(f"the generator is conditional ({k} classes): pass labels=")
            return z, np.zeros(len(z), np.int32)
        labels = np.asarray(labels)
        if labels.shape[:1] != z.shape[:1]:
            raise ConfigError(f"labels has shape {labels.shape} for {len(z)} z")
        if labels.ndim == 1:
            if k and (labels.min(initial=0) < 0 or labels.max(initial=0) >= k):
                raise ConfigError(f"labels go from 0 to {k - 1}")
            return z, labels.astype(np.int32)
        if labels.ndim != 2 or labels.shape[1] != k:
            raise ConfigError(f"labels has shape {labels.shape}; class weights are (N, {k})")
        return z, labels.astype(np.float32)


def make(
    config: ml_collections.ConfigDict, step: int, variables: dict, batch_size: int = 64, **defaults: Any
):
    """The `TrainedGenerator` of sampling ``variables`` (``{"params": EMA weights, **collections}``)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be positive")
    g_model, _ = build_models(config)

    def apply(variables, z, labels, options):
        return g_model.apply(variables, z, labels, train=False, **dict(options))

    variables = jax.tree.map(jnp.asarray, variables)
    return TrainedGenerator(
        config, step, variables, batch_size, jax.jit(apply, static_argnames="options"), **defaults
    )


def abstract_variables(config: ml_collections.ConfigDict) -> dict:
    """Shapes and dtypes of the generator's variables for ``config`` (every collection its
    initialisation makes), computed without running it."""
    g_model, _ = build_models(config)
    z, labels = jnp.zeros((2, config.model.z_dim), jnp.float32), jnp.zeros((2,), jnp.int32)
    return jax.eval_shape(lambda key: g_model.init(key, z, labels, train=False), jax.random.key(0))


def sampling_variables(workdir: str, which: str | None = None, check=None) -> tuple:
    """(config, step, ``{"params": EMA weights, **collections}``) of checkpoint ``which`` of
    ``workdir`` (None: the latest; a step; 'best'): G's collections with the BatchNorm
    statistics recomputed on the run's standing batch. ``check(config)`` runs before the
    weights are read."""
    from gan_jax.run import loading  # the checkpoint side only here: an exported file needs none

    gen, state, step = loading.restore_generator(workdir, which, check)
    stats = gen.sampler().stats(state.ema_params, state.g_vars)
    return gen.config, step, {"params": state.ema_params, **stats}


def from_checkpoint(workdir: str, which: str | None = None, check=None, batch_size: int = 64, **defaults):
    """The `TrainedGenerator` of checkpoint ``which`` of ``workdir``."""
    return make(*sampling_variables(workdir, which, check), batch_size, **defaults)
