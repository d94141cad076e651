"""A trained run read back: the generator side alone (`restore_generator`) equals the same
arrays of the whole state (`load_checkpoint`), and the untrained generator built alone
equals the generator side of the whole run's initial state."""

import os

import jax
import numpy as np
import pytest

from conftest import load_config

from gan_jax.errors import CheckpointError
from gan_jax.run import checkpoint, loading
from gan_jax.training import build


def _same(a, b) -> None:
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def _saved_run(config, workdir: str):
    """A checkpoint at step 0 whose EMA differs from G's weights."""
    state = build.build(config).init_state()
    state = state.replace(ema_params=jax.tree.map(lambda x: x + 0.01, state.ema_params))
    manager = checkpoint.make_manager(workdir, config)
    checkpoint.save(manager, state, config)
    checkpoint.wait(manager)
    manager.close()


@pytest.mark.parametrize("architecture", ["dcgan", "stylegan2"])
def test_the_generator_side_alone_equals_the_whole_state(tiny_config, tmp_path, architecture):
    config = tiny_config
    if architecture == "stylegan2":
        config = load_config("stylegan2_fashion_mnist")
        config.dataset.update(tiny_config.dataset.to_dict(), resolution=8, resize="resize")
        config.model.update(z_dim=8)
        config.model.stylegan2.update(w_dim=8, channel_base=64, channel_max=8, mbstd_group=2)
        config.sample.standing_stats = 8
    workdir = str(tmp_path / "run")
    _saved_run(config, workdir)
    run, state, step = loading.load_checkpoint(workdir)
    gen, g_state, g_step = loading.restore_generator(workdir)
    assert isinstance(gen, build.Generator) and g_step == step == 0
    _same(g_state.ema_params, state.ema_params)
    _same(g_state.g_vars, state.g_vars)
    assert gen.config.to_dict() == run.config.to_dict()
    # The sampler of the generator alone gives the whole run's images.
    z = jax.random.normal(jax.random.key(1), (4, config.model.z_dim))
    labels = np.zeros((4,), np.int32)
    ours = gen.sampler()(g_state.ema_params, g_state.g_vars, z, labels)
    theirs = run.sampler()(state.ema_params, state.g_vars, z, labels)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_the_untrained_generator_alone_equals_the_runs(tiny_config):
    run = build.build(tiny_config)
    whole = run.init_state()
    alone = build.build_generator(tiny_config, run.mesh).init_state()
    _same(alone.ema_params, whole.ema_params)
    _same(alone.g_vars, whole.g_vars)
    assert jax.tree.structure(alone.ema_params) == jax.tree.structure(
        run.generator().abstract_state().ema_params
    )


def test_a_checkpoint_of_another_model_is_named_for_the_generator_side(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    _saved_run(tiny_config, workdir)
    wider = tiny_config.copy_and_resolve_references()
    wider.model.dcgan.g_width *= 2
    gen = build.build_generator(wider)
    manager = checkpoint.make_manager(workdir, tiny_config)
    with pytest.raises(CheckpointError, match="written by a different model: ema_params/"):
        checkpoint.restore(manager, gen.abstract_state(), 0)
    assert os.path.isdir(os.path.join(workdir, "checkpoints", "0"))
