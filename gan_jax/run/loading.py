"""A trained run read back from its workdir: the checkpoint ``which`` names (None: the
latest; a step number; 'best' for ``best_checkpoint/``) and the config saved with it.

`restore_generator` reads the generator side only (config, EMA weights, G's collections),
building G alone: what generate, evaluate, export and the figures use. `load_checkpoint`
reads the whole state and builds the whole run: what fine-tuning needs."""

import os
from typing import Callable

import jax
import ml_collections
from jax.sharding import Mesh

from gan_jax import config as config_lib, parallel
from gan_jax.errors import CheckpointError, ConfigError
from gan_jax.run import checkpoint
from gan_jax.training import build
from gan_jax.training.state import GANState, GeneratorState

Check = Callable[[ml_collections.ConfigDict], None]


def _open_checkpoint(workdir: str, which: str | None):
    """(manager, step) of the checkpoint ``which`` names: None (the latest), a step or 'best'."""
    if which == "best":
        best = checkpoint.read_best(workdir)
        if best is None:
            raise CheckpointError(
                f"{workdir} has no best checkpoint; training keeps one in best_checkpoint/ "
                f"when it evaluates (eval_every and eval.metrics)"
            )
        return checkpoint.open_for_reading(checkpoint.best_dir(workdir)), int(best["step"])
    if which is not None and not which.isdigit():
        raise ConfigError(f"--checkpoint={which!r}: give a step number or 'best'")
    if not os.path.isdir(checkpoint.checkpoint_dir(workdir)):
        raise CheckpointError(f"no checkpoint in {checkpoint.checkpoint_dir(workdir)}; train the run first")
    manager = checkpoint.open_for_reading(checkpoint.checkpoint_dir(workdir))
    steps = manager.all_steps()
    if not steps:
        raise CheckpointError(f"no checkpoint in {manager.directory}; train the run first")
    step = max(steps) if which is None else int(which)
    if step not in steps:
        raise CheckpointError(
            f"no checkpoint at step {step} in {manager.directory}; it has steps {list(steps)}"
        )
    return manager, step


def _read(workdir: str, which: str | None, check: Check | None, make_target: Callable):
    """(built, state, step): the checkpoint's config checked, ``make_target(config)`` →
    (what is built, the abstract state to restore)."""
    if not os.path.isdir(workdir):
        raise ConfigError(f"workdir {workdir!r} does not exist")
    manager, step = _open_checkpoint(workdir, which)
    config = config_lib.from_dict(checkpoint.saved_config(manager, step))
    if check:
        check(config)
    built, target = make_target(config)
    state = checkpoint.restore(manager, target, step)
    manager.close()
    return built, state, step


def load_checkpoint(
    workdir: str, which: str | None = None, check: Check | None = None
) -> tuple[build.Run, GANState, int]:
    """(build.Run on one device, state, step) of checkpoint ``which`` (None: the latest; a
    step; 'best') of ``workdir``: the whole state, both networks and their optimizers.
    ``check(config)`` runs before the weights are read, so a request fails fast."""

    def target(config):
        run = build.build(config, parallel.create_mesh(jax.local_devices()[:1]))
        return run, run.abstract_state()

    return _read(workdir, which, check, target)


def restore_generator(
    workdir: str, which: str | None = None, check: Check | None = None, mesh: Mesh | None = None
) -> tuple[build.Generator, GeneratorState, int]:
    """(build.Generator, its state, step) of checkpoint ``which`` of ``workdir``: the
    generator side only (EMA weights and G's collections; D and the optimizers stay on
    disk), on ``mesh`` (default: one local device)."""
    mesh = mesh if mesh is not None else parallel.create_mesh(jax.local_devices()[:1])

    def target(config):
        gen = build.build_generator(config, mesh)
        return gen, gen.abstract_state()

    return _read(workdir, which, check, target)
