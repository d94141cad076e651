"""A config as a run keeps it: written to ``config.json`` and into each checkpoint, read back
(an older schema upgraded), and compared with the config of a resuming start."""

import json

import ml_collections

from gan_jax.config import model, ops
from gan_jax.config.base import base_config
from gan_jax.errors import ConfigError

# Fields whose change makes a resumed run another experiment under the old name.
_IDENTITY = (
    "seed",
    "dataset.name",
    "dataset.source",
    "dataset.path",
    "dataset.split",
    "dataset.resolution",
    "dataset.aspect",
    "dataset.channels",
    "dataset.resize",
    "dataset.max_examples",
    "dataset.classes",
    "dataset.mirror",
)
# Fields that may differ between the starts of one run without a word.
_UNLOGGED = ("resume_changes",)


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)


def upgrade(values: dict) -> dict:
    """A saved config's values in today's schema. Before the per-architecture sections,
    ``model`` held every architecture's fields and the ops' knobs side by side: the built
    architecture's go to ``model.<architecture>``, the knobs to ``ops``, the other
    architectures' (at their defaults, never read) are dropped."""
    old_model = dict(values.get("model", {}))
    arch = old_model.get("architecture", "dcgan")
    moved = {k for k in old_model if k not in (*model.COMMON_FIELDS, *model.ARCHITECTURES)}
    if not moved:
        return values
    section = dict(old_model.get(arch, {}))
    new_ops = dict(values.get("ops", {}))
    for key in moved:
        value = old_model.pop(key)
        if key in ops.FIELDS:
            new_ops.setdefault(key, value)
        elif key in model.ARCHITECTURE_FIELDS.get(arch, ()):
            section.setdefault(key, value)
    if arch in model.ARCHITECTURE_FIELDS:
        old_model[arch] = section
    return {**values, "model": old_model, "ops": new_ops}


def from_dict(values: dict) -> ml_collections.ConfigDict:
    """`base_config()` with the fields of a saved config (``config.json``, a checkpoint's) set,
    an old one `upgrade`d first."""
    config = base_config()
    try:
        config.update_from_flattened_dict(flatten(upgrade(values)))
    except (KeyError, TypeError) as e:
        raise ConfigError(f"the saved config does not fit this version of gan_jax: {e}") from None
    return config


def _is_identity(name: str, architecture: str) -> bool:
    """Whether a field's change makes another experiment: the data, the seed, the model's
    common fields and its architecture's own (not another architecture's, nor ``ops``)."""
    common = tuple(f"model.{k}" for k in model.COMMON_FIELDS)
    return name in _IDENTITY or name in common or name.startswith(f"model.{architecture}.")


def _as_tuple(value):
    return tuple(value) if isinstance(value, list) else value


def resume_differences(saved: dict, config: ml_collections.ConfigDict) -> tuple[list[str], list[str]]:
    """(identity changes, other changes) between a workdir's saved config.json and the config
    of a resuming start, each as 'field: old -> new'."""
    old, new = flatten(upgrade(saved)), flatten(config.to_dict())
    defaults = flatten(base_config().to_dict())
    identity, other = [], []
    for name in sorted(set(old) | set(new)):
        a, b = _as_tuple(old.get(name)), _as_tuple(new.get(name))
        if name not in old and name in defaults and b == defaults[name]:
            continue  # a field newer than the run, at its default: the run had that behaviour
        if a == b or name in _UNLOGGED:
            continue
        line = f"{name}: {a!r} -> {b!r}"
        (identity if _is_identity(name, config.model.architecture) else other).append(line)
    return identity, other


def flatten(d: dict, prefix: str = "") -> dict:
    """A nested dict as {'section.field': value}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def field_names(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """Dotted names of every leaf field, for error messages that list the valid ones."""
    names = []
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            names += field_names(value, f"{prefix}{key}.")
        else:
            names.append(prefix + key)
    return names
