"""A trained run read back from its workdir: the checkpoint ``which`` names (None: the
latest; a step number; 'best' for ``best_checkpoint/``), the config saved with it, and
the run built from that config on one device."""

import os
from typing import Callable

import jax
import ml_collections

from gan_jax import config as config_lib, parallel
from gan_jax.training import build
from gan_jax.run import checkpoint
from gan_jax.errors import CheckpointError, ConfigError


def _open_checkpoint(workdir: str, which: str | None):
    """(manager, step) of the checkpoint ``which`` names: None (the latest), a step or 'best'."""
    if which == "best":
        best = checkpoint.read_best(workdir)
        if best is None:
            raise CheckpointError(
                f"{workdir} has no best checkpoint; training keeps one in best_checkpoint/ "
                f"when it evaluates (eval_every and eval.metrics)"
            )
        return checkpoint.make_best_manager(workdir), int(best["step"])
    if which is not None and not which.isdigit():
        raise ConfigError(f"--checkpoint={which!r}: give a step number or 'best'")
    if not os.path.isdir(checkpoint.checkpoint_dir(workdir)):
        raise CheckpointError(f"no checkpoint in {checkpoint.checkpoint_dir(workdir)}; train the run first")
    manager = checkpoint.make_manager(workdir, config_lib.base_config())
    steps = manager.all_steps()
    if not steps:
        raise CheckpointError(f"no checkpoint in {manager.directory}; train the run first")
    step = max(steps) if which is None else int(which)
    if step not in steps:
        raise CheckpointError(
            f"no checkpoint at step {step} in {manager.directory}; it has steps {list(steps)}"
        )
    return manager, step


def load_checkpoint(
    workdir: str, which: str | None = None, check: Callable[[ml_collections.ConfigDict], None] | None = None
):
    """(build.Run on one device, state, step) of checkpoint ``which`` (None: the latest; a
    step; 'best') of ``workdir``. ``check(config)`` runs before the weights are read, so a
    request fails fast."""
    if not os.path.isdir(workdir):
        raise ConfigError(f"workdir {workdir!r} does not exist")
    manager, step = _open_checkpoint(workdir, which)
    config = config_lib.from_dict(checkpoint.saved_config(manager, step))
    if check:
        check(config)
    run = build.build(config, parallel.create_mesh(jax.local_devices()[:1]))
    state = checkpoint.restore(manager, run.abstract_state(), step)
    manager.close()
    return run, state, step
