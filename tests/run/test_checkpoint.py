"""Checkpoints restore exactly, onto another device count, and refuse a different model."""

import jax
import numpy as np
import pytest

from gan_jax import parallel
from gan_jax.training import build
from gan_jax.run import checkpoint
from gan_jax.errors import CheckpointError
from gan_jax.run.trainer import train_and_evaluate


def _abstract(config, mesh):
    return build.build(config, mesh).abstract_state()


def test_restore_onto_fewer_devices_is_exact(tiny_config, tmp_path):
    tiny_config.num_steps = 2
    state = train_and_evaluate(tiny_config, str(tmp_path))
    manager = checkpoint.make_manager(str(tmp_path), tiny_config)
    mesh2 = parallel.create_mesh(jax.devices()[:2])
    restored = checkpoint.restore(manager, _abstract(tiny_config, mesh2))
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert len(b.sharding.device_set) == 2


def test_incompatible_model_is_refused(tiny_config, tmp_path):
    tiny_config.num_steps = 2
    train_and_evaluate(tiny_config, str(tmp_path))
    tiny_config.model.dcgan.g_width = 16
    manager = checkpoint.make_manager(str(tmp_path), tiny_config)
    with pytest.raises(
        CheckpointError,
        match=r"different model: g_params/BatchNorm_0/bias is "
        r"float32\[16\] in the checkpoint but float32\[32\]",
    ):
        checkpoint.restore(manager, _abstract(tiny_config, parallel.create_mesh()))


def test_empty_directory_has_nothing_to_restore(tiny_config, tmp_path):
    manager = checkpoint.make_manager(str(tmp_path), tiny_config)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoint.restore(manager, _abstract(tiny_config, parallel.create_mesh()))
