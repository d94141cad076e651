"""Fine-tuning: a new run that starts from a trained model's weights.

    python train.py --config C --workdir NEW --config.init_from=SOURCE [--config.freeze_d=k]

``SOURCE`` is a workdir (its latest checkpoint), one checkpoint folder of it
(``W/checkpoints/STEP``), its ``W/best_checkpoint``, or a published model converted into
a workdir (``python -m gan_jax.tools.convert_stylegan2``, ``convert_r3gan``). The new run takes
the source's G, D and EMA generator with their collections (BatchNorm statistics,
spectral-norm vectors, StyleGAN2's w̄ and noise), and, with ``init_optimizer=True``, both
optimizers' states; everything else starts fresh: the step counter at 0, the
techniques' carried state (ADA's p, LeCam's anchors), the schedules and the data order.
The new config may change anything that leaves the networks' shapes alone (data,
losses, learning rates, regularizers, augmentation); a parameter whose shape differs is
refused, naming the first one.

``init_from`` is read only when ``NEW`` has no checkpoint: a fine-tuning run that is
stopped resumes from its own checkpoints like any other.
"""

import os

import jax

from gan_jax import parallel
from gan_jax.run import checkpoint
from gan_jax.training import freeze
from gan_jax.run import loading as runs
from gan_jax.run import tree_diff
from gan_jax.errors import ConfigError
from gan_jax.training.state import GANState

_NETWORKS = ("g_params", "g_vars", "d_params", "d_vars", "ema_params")
_OPTIMIZERS = ("g_opt_state", "d_opt_state")
_KEY_ATTRS = ("key", "idx")  # dict keys and indices; attribute keys as jax prints them ('.mu')


def _locate(path: str) -> tuple[str, str | None]:
    """(workdir, which checkpoint: None for the latest, a step, 'best') of ``init_from``."""
    path = os.path.normpath(path)
    if not os.path.isdir(path):
        raise ConfigError(f"init_from={path!r} is not a folder: give a workdir or a checkpoint folder")
    parent, name = os.path.split(path)
    if name.isdigit() and os.path.basename(parent) == "checkpoints":
        return os.path.dirname(parent), name
    if name == "best_checkpoint":
        return parent, "best"
    if name == "checkpoints":
        return parent, None
    if os.path.isdir(checkpoint.checkpoint_dir(path)):
        return path, None
    raise ConfigError(
        f"init_from={path!r} holds no checkpoints/ folder: give a workdir, "
        f"W/checkpoints/STEP or W/best_checkpoint"
    )


def first_difference(field: str, source, target) -> str | None:
    """The first leaf whose presence, shape or dtype differs between two pytrees, as a
    sentence; None when they match."""
    found = tree_diff.first_difference(
        tree_diff.arrays(source, _KEY_ATTRS), tree_diff.arrays(target, _KEY_ATTRS)
    )
    if found is None:
        return None
    name, a, b = found
    if a is None:
        return f"{field}/{name} is not in the source"
    if b is None:
        return f"{field}/{name} of the source is not in this config's model"
    return (
        f"{field}/{name} is {a.dtype.name}{list(a.shape)} in the source and "
        f"{b.dtype.name}{list(b.shape)} here"
    )


def initial_state(run, config, fresh: GANState) -> GANState:
    """``fresh`` (the run's initial state) with the networks (and optimizers) of
    ``config.init_from``; ``fresh`` itself when it is empty. Also checks ``freeze_d``."""
    if config.freeze_d:
        freeze.frozen_mask(config.model.architecture, fresh.d_params, config.freeze_d)
    if not config.init_from:
        return fresh
    workdir, which = _locate(config.init_from)
    _, source, step = runs.load_checkpoint(workdir, which)
    fields = _NETWORKS + (_OPTIMIZERS if config.init_optimizer else ())
    for field in fields:
        problem = first_difference(field, getattr(source, field), getattr(fresh, field))
        if problem:
            hint = (
                " (the optimizers differ: drop init_optimizer to start them fresh)"
                if field in _OPTIMIZERS
                else ""
            )
            raise ConfigError(
                f"init_from={config.init_from!r} (step {step}) does not fit this config: {problem}{hint}"
            )
    replicated = parallel.replicated(run.mesh)
    taken = {f: jax.device_put(jax.device_get(getattr(source, f)), replicated) for f in fields}
    return fresh.replace(**taken)
