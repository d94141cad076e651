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
    tensors_sha256  SHA-256 over the tensors in name order, each fed as its name, dtype,
                    shape and bytes (`tensors_digest`); a file without it (written before
                    it existed) loads with a warning that it cannot be verified

Loading checks everything it reads before anything runs, each with one line naming the
file: the header, the metadata (JSON config, a number for ``step``), the checksum, and
every tensor's name, shape and dtype against what the config's generator has.

**Loading** needs the model definitions (`gan_jax.models`) and the sampling rules
(`gan_jax.run.generator`) only: no trainer, optimizer, dataset or checkpoint code.

    gen = gan_jax.load_generator("generator.safetensors")
    images = gen(seeds=[0, 1, 2])                  # uint8 (3, H, W, C)
    images = gen(z=z, labels=labels)               # z (N, z_dim); labels (N,) int or (N, K) weights

The result is a `gan_jax.run.generator.TrainedGenerator`, the class generate samples a
checkpoint with: a seed gives the image ``python -m gan_jax.tools.generate --seeds`` gives
for it, pixel for pixel (its docstring has the rules). A config written before the
per-architecture sections is read into them (`gan_jax.config.upgrade`).
"""

import hashlib
import json
from typing import Any

import jax
import ml_collections
import numpy as np
import safetensors.numpy
from safetensors import safe_open

from gan_jax import config as config_lib
from gan_jax.errors import ConfigError
from gan_jax.run import generator, tree_diff, writers

FORMAT = "gan_jax.generator"
FORMAT_VERSION = 1


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


def tensors_digest(flat: dict[str, np.ndarray]) -> str:
    """SHA-256 over ``flat`` in name order: each name, dtype, shape and C-order bytes."""
    digest = hashlib.sha256()
    for name in sorted(flat):
        array = np.ascontiguousarray(flat[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def encode(config: ml_collections.ConfigDict, step: int, variables: dict) -> bytes:
    """The file's bytes for sampling ``variables`` (``{"params": EMA weights, **collections}``)."""
    from gan_jax import __version__

    flat = flatten_variables(variables)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": config_lib.to_json(config),
        "step": str(step),
        "gan_jax_version": __version__,
        "tensors_sha256": tensors_digest(flat),
    }
    return safetensors.numpy.save(flat, metadata=metadata)


def _open(path: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    try:
        with safe_open(path, framework="numpy") as f:
            return dict(f.metadata() or {}), {name: f.get_tensor(name) for name in f.keys()}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory; give the exported .safetensors file") from None
    except Exception as e:  # noqa: BLE001 (OSError, or safetensors' SafetensorError for a bad header)
        raise ConfigError(f"cannot read {path} as safetensors: {' '.join(str(e).split())}") from None


def _check_format(path: str, metadata: dict[str, str]) -> None:
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


def _check_digest(path: str, metadata: dict[str, str], flat: dict[str, np.ndarray]) -> None:
    expected = metadata.get("tensors_sha256")
    if expected is None:
        writers.warn(
            f"{path} has no tensors_sha256 (written by an older gan_jax): its tensors cannot be verified"
        )
    elif tensors_digest(flat) != expected:
        raise ConfigError(
            f"{path} is damaged: its tensors do not match the tensors_sha256 in its metadata; "
            f"export the run again"
        )


def _config(path: str, metadata: dict[str, str]) -> ml_collections.ConfigDict:
    """The metadata's config, or one line saying why it cannot be read."""
    try:
        values = json.loads(metadata["config"])
    except KeyError:
        raise ConfigError(f"{path}: its metadata holds no config; export the run again") from None
    except ValueError as e:
        raise ConfigError(f"{path}: the config in its metadata is not JSON ({e})") from None
    if not isinstance(values, dict) or not isinstance(values.get("model"), dict) or "dataset" not in values:
        raise ConfigError(
            f"{path}: the config in its metadata is not a gan_jax config (no model and dataset sections)"
        )
    try:
        return config_lib.from_dict(_tuples(values))  # an older schema upgraded
    except (ConfigError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: the config in its metadata is not usable ({e})") from None


def read(path: str) -> tuple[ml_collections.ConfigDict, dict, dict[str, str]]:
    """(config, nested variables, metadata) of an exported generator file, each part checked."""
    metadata, flat = _open(path)
    _check_format(path, metadata)
    _check_digest(path, metadata, flat)
    return _config(path, metadata), unflatten_variables(flat), metadata


def check_variables(path: str, config: ml_collections.ConfigDict, variables: dict) -> None:
    """One line naming the first tensor whose name, shape or dtype is not what the config's
    generator has (an architecture or a size that does not match the weights)."""
    have = tree_diff.arrays(variables)
    try:
        want = tree_diff.arrays(generator.abstract_variables(config))
    except (ConfigError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: the config in its metadata does not make a generator ({e})") from None
    found = tree_diff.first_difference(have, want)
    if found is None:
        return
    name, a, b = found
    if a is None:
        problem = f"has no tensor {name}, which its config's {config.model.architecture} generator has"
    elif b is None:
        problem = f"has a tensor {name} that its config's {config.model.architecture} generator does not"
    else:
        problem = f"has {name} as {a.dtype.name}{list(a.shape)}; its config's {config.model.architecture} generator has {b.dtype.name}{list(b.shape)}"
    raise ConfigError(f"{path} does not match the config in its metadata: it {problem}")


def load_generator(path: str, batch_size: int = 64) -> generator.TrainedGenerator:
    """The generator `gan_jax.tools.export` wrote to ``path``: a `generator.TrainedGenerator`,
    whose calls run ``batch_size`` images at a time through one jitted program (compiled on
    the first call), as generate samples a checkpoint."""
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size} must be positive")
    config, variables, metadata = read(path)
    step = metadata.get("step", "-1")
    if not step.lstrip("-").isdigit():
        raise ConfigError(f"{path}: its metadata's step {step!r} is not a number")
    check_variables(path, config, variables)
    return generator.make(config, int(step), variables, batch_size)
