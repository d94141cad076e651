"""A new run whose step 0 holds a converted network (a published model in gan_jax's layout)."""

from gan_jax.convert.stylegan2 import state_from_state_dict
from gan_jax.errors import ConfigError
from gan_jax.run import checkpoint, trainer
from gan_jax.training import build


def write_run(config, state_dict: dict, convert_fn, workdir: str) -> bool:
    """Writes ``workdir``'s checkpoint 0 and config.json: ``config``'s initial state with the
    networks of ``state_dict`` (`convert.stylegan2.state_from_state_dict`, ``convert_fn`` the
    architecture's `convert`); fresh optimizer states. True when the file held a D."""
    trainer.prepare_workdir(workdir)
    manager = checkpoint.make_manager(workdir, config)
    if manager.all_steps():
        raise ConfigError(
            f"{workdir} already holds checkpoints {list(manager.all_steps())}; convert into a new workdir"
        )
    state, with_d = state_from_state_dict(build.build(config), state_dict, convert_fn)
    trainer.write_config(workdir, config)
    checkpoint.save(manager, state, config)
    checkpoint.wait(manager)
    manager.close()
    return with_d
