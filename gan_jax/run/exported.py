"""An exported generator: the safetensors file `gan_jax.tools.export` writes, and `load_generator`.

**File.** One safetensors file (https://github.com/huggingface/safetensors: a JSON
header of names, dtypes, shapes and offsets, then the raw little-endian tensors). Each
tensor is one leaf of the generator's Flax variables, named by its path with ``/`` (a
``/`` or ``%`` inside a name written ``%2F`` or ``%25``, as in spectral norm's
``kernel%2Fu``): ``params/<module>/.../<name>`` for the EMA weights and
``<collection>/...`` for the other collections the generator reads in inference mode:
``batch_stats/...`` (the standing BatchNorm statistics `gan_jax.tools.generate` computes,
`sample.standing_stats`), ``spectral/...``, StyleGAN2's ``noise_const/...`` and
``w_avg/...``. The header's metadata (all strings):

    format          "gan_jax.generator"
    format_version  "1"
    config          the run's config as JSON (`gan_jax.config.to_json`)
    step            the training step of the checkpoint exported
    gan_jax_version the gan_jax version that wrote the file

**Loading** needs the model definitions (`gan_jax.models`) and the seed → noise rule
(`gan_jax.training.sample.seed_noise`) only: no trainer, optimizer, dataset or checkpoint code.

    gen = gan_jax.load_generator("generator.safetensors")
    images = gen(seeds=[0, 1, 2])                  # uint8 (3, H, W, C)
    images = gen(z=z, labels=labels)               # z (N, z_dim); labels (N,) int or (N, K) weights

A seed gives the image ``python -m gan_jax.tools.generate --seeds`` gives for it, pixel for
pixel: the same noise (``z_truncation``: BigGAN's z truncation), the same class (``class_``,
else seed mod num_classes), the same variables, the same compiled call in batches of
``batch_size`` (64, generate's default; the last batch is padded) and the same rounding
to uint8. StyleGAN2 generators also take ``psi`` (ψ, w-space truncation) and
``noise_mode`` ('const' or 'none'), as generate's ``--psi`` and ``--noise_mode``. The
former names ``truncation`` and ``trunc`` still work, with a notice.
"""

import dataclasses
import json
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from safetensors import safe_open

from gan_jax.training import sample
from gan_jax.errors import ConfigError
from gan_jax.models import build_models

FORMAT = "gan_jax.generator"
FORMAT_VERSION = 1
NOISE_MODES = ("const", "none")
MAX_SEED = 2**32 - 1


def _escape(name: str) -> str:
    return name.replace("%", "%25").replace("/", "%2F")


def _unescape(name: str) -> str:
    return name.replace("%2F", "/").replace("%25", "%")


def flatten_variables(variables: dict) -> dict[str, np.ndarray]:
    """Nested Flax variables → {"collection/module/.../name": array}, each name in the path
    with ``%`` and ``/`` written ``%25`` and ``%2F`` (Flax's spectral-norm state has names
    like ``kernel/u``)."""
    flat = {}

    def walk(tree, path):
        for key, value in tree.items():
            if isinstance(value, dict):
                walk(value, path + [_escape(str(key))])
            else:
                flat["/".join(path + [_escape(str(key))])] = np.asarray(jax.device_get(value))

    walk(dict(variables), [])
    return flat


def unflatten_variables(flat: dict[str, np.ndarray]) -> dict:
    """The inverse of `flatten_variables`."""
    tree: dict = {}
    for name, value in flat.items():
        *path, leaf = (_unescape(part) for part in name.split("/"))
        node = tree
        for key in path:
            node = node.setdefault(key, {})
        node[leaf] = value
    return tree


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the config held (model fields such as stage_widths)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def read(path: str) -> tuple[ml_collections.ConfigDict, dict, dict[str, str]]:
    """(config, nested variables, metadata) of an exported generator file."""
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            flat = {name: f.get_tensor(name) for name in f.keys()}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except Exception as e:  # noqa: BLE001 (OSError, or safetensors' SafetensorError for a bad header)
        raise ConfigError(f"cannot read {path} as safetensors: {' '.join(str(e).split())}") from None
    if metadata.get("format") != FORMAT:
        raise ConfigError(
            f"{path} is not a gan_jax generator export (its metadata has no "
            f"format={FORMAT!r}); write one with python -m gan_jax.tools.export"
        )
    version = metadata.get("format_version", "")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise ConfigError(
            f"{path} has format_version {version!r}; this gan_jax reads up to "
            f"{FORMAT_VERSION}: upgrade gan_jax"
        )
    config = ml_collections.ConfigDict(_tuples(json.loads(metadata["config"])))
    return config, unflatten_variables(flat), metadata


def _g_kwargs(
    config: ml_collections.ConfigDict, psi: float | None, noise_mode: str | None
) -> tuple[tuple[str, Any], ...]:
    """StyleGAN2's call options, as a hashable static argument; refused for other generators."""
    if psi is None and noise_mode is None:
        return ()
    if config.model.architecture != "stylegan2":
        raise ConfigError(
            f"psi and noise_mode are for StyleGAN generators (this one is "
            f"{config.model.architecture!r}); BigGAN-style z truncation is z_truncation="
        )
    if noise_mode is not None and noise_mode not in NOISE_MODES:
        raise ConfigError(f"noise_mode={noise_mode!r} must be one of {NOISE_MODES}")
    return tuple(
        (k, v)
        for k, v in (("truncation_psi", None if psi is None else float(psi)), ("noise_mode", noise_mode))
        if v is not None
    )


@dataclasses.dataclass(frozen=True)
class ExportedGenerator:
    """An exported EMA generator: ``gen(seeds=...)`` or ``gen(z=..., labels=...)`` → uint8
    images (N, H, W, C). ``config`` is the run's config, ``step`` the checkpoint's step."""

    config: ml_collections.ConfigDict
    step: int
    variables: dict
    batch_size: int
    _apply: Callable  # jitted (variables, z, labels, g_kwargs) -> images in [-1, 1]

    @property
    def num_classes(self) -> int:
        return int(self.config.model.num_classes)

    @property
    def z_dim(self) -> int:
        return int(self.config.model.z_dim)

    def seed_inputs(
        self, seeds, class_: int | None = None, z_truncation: float | None = None
    ) -> tuple[jax.Array, np.ndarray]:
        """(z (N, z_dim), int32 labels (N,)) of the seeds, as generate draws them: z from
        key(seed) (`sample.seed_noise`), class ``class_`` or seed mod num_classes (0 when
        the generator is unconditional)."""
        seeds = np.asarray(seeds, np.int64).reshape(-1)
        if len(seeds) and (seeds.min() < 0 or seeds.max() > MAX_SEED):
            raise ConfigError(f"seeds go from 0 to {MAX_SEED}")
        if z_truncation is not None and z_truncation <= 0:
            raise ConfigError(f"z_truncation={z_truncation} must be positive")
        k = self.num_classes
        if class_ is not None:
            if not k:
                raise ConfigError(f"class_={class_}: the generator is unconditional")
            if not 0 <= class_ < k:
                raise ConfigError(
                    f"class_={class_} is out of range: the generator has {k} classes, 0 to {k - 1}"
                )
            labels = np.full(len(seeds), class_, np.int32)
        else:
            labels = (seeds % k).astype(np.int32) if k else np.zeros(len(seeds), np.int32)
        return sample.seed_noise(seeds, self.z_dim, z_truncation), labels

    def __call__(
        self,
        seeds=None,
        *,
        z=None,
        labels=None,
        class_: int | None = None,
        z_truncation: float | None = None,
        psi: float | None = None,
        noise_mode: str | None = None,
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
        g_kwargs = _g_kwargs(self.config, psi, noise_mode)
        z, labels = jnp.asarray(z), jnp.asarray(labels)
        n, size = len(z), self.batch_size
        if not n:
            r, c = self.config.dataset.resolution, self.config.dataset.channels
            return np.zeros((0, r, r, c), np.uint8)
        pad = -n % size
        z, labels = (jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)]) for a in (z, labels))
        chunks = [
            sample.to_uint8(
                jax.device_get(self._apply(self.variables, z[i : i + size], labels[i : i + size], g_kwargs))
            )
            for i in range(0, n + pad, size)
        ]
        return np.concatenate(chunks)[:n]

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


def load_generator(path: str, batch_size: int = 64) -> ExportedGenerator:
    """The generator `gan_jax.tools.export` wrote to ``path``; its calls run ``batch_size`` images
    at a time through one jitted program (compiled on the first call)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be positive")
    config, variables, metadata = read(path)
    g_model, _ = build_models(config)
    variables = jax.tree.map(jnp.asarray, variables)

    def apply(variables, z, labels, g_kwargs):
        return g_model.apply(variables, z, labels, train=False, **dict(g_kwargs))

    return ExportedGenerator(
        config,
        int(metadata.get("step", -1)),
        variables,
        batch_size,
        jax.jit(apply, static_argnames="g_kwargs"),
    )
