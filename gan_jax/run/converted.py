"""A new run whose step 0 holds a converted network (a published model in gan_jax's layout)."""

import os

from gan_jax.convert.stylegan2 import state_from_state_dict
from gan_jax.errors import ConfigError
from gan_jax.run import checkpoint, trainer, workdir_lock
from gan_jax.training import build


def write_run(config, state_dict: dict, convert_fn, workdir: str) -> bool:
    """Writes ``workdir``'s checkpoint 0 and config.json: ``config``'s initial state with the
    networks of ``state_dict`` (`convert.stylegan2.state_from_state_dict`, ``convert_fn`` the
    architecture's `convert`); fresh optimizer states. True when the file held a D.
    A workdir that holds anything under checkpoints/ (a finished step, or one a trainer is
    saving) is refused before anything in it is touched."""
    refuse_a_run(workdir)
    state, with_d = state_from_state_dict(build.build(config), state_dict, convert_fn)
    trainer.prepare_workdir(workdir)
    with workdir_lock.hold(workdir):
        refuse_a_run(workdir)
        manager = checkpoint.make_manager(workdir, config)
        trainer.write_config(workdir, config)
        checkpoint.save(manager, state, config)
        checkpoint.wait(manager)
        manager.close()
    return with_d


def refuse_a_run(workdir: str) -> None:
    """A `ConfigError` when ``workdir`` holds anything under checkpoints/."""
    folder = checkpoint.checkpoint_dir(workdir)
    held = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    if held:
        raise ConfigError(
            f"{workdir} already holds checkpoints ({', '.join(held[:3])}{', ...' if len(held) > 3 else ''}); "
            f"convert into a new workdir"
        )
