"""Snapshots of the post-hoc averages (`gan_jax.training.posthoc_ema`), taken with the
run's checkpoints and kept, unlike checkpoints, for the whole run: what reconstruction reads.

``W/posthoc_ema/<step, 8 digits>.safetensors`` holds every average of the state at that
step (tensors named ``sigma_<σ_rel>/<parameter path>``), with metadata ``format``
("gan_jax.posthoc_ema"), ``step`` and ``sigma_rels`` (JSON). A snapshot is written beside
its name and renamed into place, by process 0; a resumed run that replays a step writes
the same tensors again.
"""

import json
import os

import jax
import ml_collections
import numpy as np
import safetensors.numpy
from safetensors import safe_open

from gan_jax.errors import ConfigError
from gan_jax.run import exported
from gan_jax.training.state import GANState

FOLDER = "posthoc_ema"
FORMAT = "gan_jax.posthoc_ema"


def folder(workdir: str) -> str:
    return os.path.join(workdir, FOLDER)


def due(config: ml_collections.ConfigDict, done: int) -> bool:
    """Whether step ``done`` takes a snapshot: every ``snapshot_every`` steps (0: every
    ``checkpoint_every``; a multiple of it, so each snapshot comes with a checked, saved
    state) and at the last step. A stop on request takes none: a resumed run then writes
    the same snapshots as one never stopped."""
    posthoc = config.ema.posthoc
    interval = posthoc.snapshot_every or config.checkpoint_every
    return bool(posthoc.enabled) and (done % interval == 0 or done == config.num_steps)


def _host(tree):
    """A replicated tree as numpy arrays (each process holds a whole copy)."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def write(workdir: str, state: GANState, config: ml_collections.ConfigDict) -> str | None:
    """Writes the snapshot of ``state``'s averages; its path (None on other processes)."""
    averages = _host(state.aux["posthoc_ema"])
    if jax.process_index() != 0:
        return None
    step = int(jax.device_get(state.step))
    flat = exported.flatten_variables(averages)
    metadata = {
        "format": FORMAT,
        "step": str(step),
        "sigma_rels": json.dumps(list(config.ema.posthoc.sigma_rels)),
    }
    os.makedirs(folder(workdir), exist_ok=True)
    path = os.path.join(folder(workdir), f"{step:08d}.safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(safetensors.numpy.save(flat, metadata=metadata))
    os.replace(path + ".tmp", path)
    return path


def read(workdir: str, upto_step: int | None = None) -> list[tuple[int, float, dict]]:
    """Every (step, σ_rel, parameters) of the run's snapshots up to ``upto_step``, by step."""
    where = folder(workdir)
    names = sorted(n for n in os.listdir(where) if n.endswith(".safetensors")) if os.path.isdir(where) else []
    if not names:
        raise ConfigError(
            f"{workdir} has no post-hoc EMA snapshots ({where}); train with --config.ema.posthoc.enabled=True"
        )
    found = []
    for name in names:
        step, averages = _read_one(os.path.join(where, name))
        if upto_step is None or step <= upto_step:
            found += [(step, float(k[len("sigma_") :]), v) for k, v in sorted(averages.items())]
    return found


def _read_one(path: str) -> tuple[int, dict]:
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            flat = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as e:  # noqa: BLE001 (OSError, or safetensors' error for a damaged header)
        raise ConfigError(f"cannot read the snapshot {path}: {' '.join(str(e).split())[:200]}") from None
    if metadata.get("format") != FORMAT or not metadata.get("step", "").isdigit():
        raise ConfigError(f"{path} is not a gan_jax post-hoc EMA snapshot")
    averages = exported.unflatten_variables(flat)
    if not all(k.startswith("sigma_") for k in averages):
        raise ConfigError(f"{path} holds tensors that are not averages: {sorted(averages)[:3]}")
    return int(metadata["step"]), averages
