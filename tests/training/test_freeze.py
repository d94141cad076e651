"""FreezeD: D's blocks from the image per architecture, and frozen blocks stay exactly fixed."""

import jax
import numpy as np
import pytest

from conftest import load_config
from gan_jax import parallel
from gan_jax.training import build
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets
from gan_jax.training import freeze
from gan_jax.errors import ConfigError


def _d_params(name, **model):
    config = load_config(name)
    config.model[config.model.architecture].update(**model)
    return config, build.build(config, parallel.create_mesh(jax.devices()[:1])).abstract_state().d_params


@pytest.mark.parametrize(
    "name, model, blocks",
    [
        ("tiny", {}, [["Conv_0"], ["Conv_1", "BatchNorm_0"]]),
        ("sngan_fashion_mnist", {}, [["DBlock_0"], ["DBlock_1"], ["DBlock_2"]]),
        (
            "stylegan2_fashion_mnist",
            dict(channel_base=256, channel_max=8),
            [["b32"], ["b16"], ["b8"], ["b4"]],
        ),
        # D reads the stages from the image: 8, 8, 16, 16 channels, so one transition, after stage 1.
        (
            "r3gan_fashion_mnist",
            dict(stage_widths=(16, 16, 8, 8), stage_groups=(), stage_blocks=()),
            [
                ["stage0_block0", "extract"],
                ["stage0_block1"],
                ["stage1_block0"],
                ["stage1_block1", "stage1_transition"],
                ["stage2_block0"],
                ["stage2_block1"],
                ["stage3_block0"],
                ["stage3_block1"],
            ],
        ),
    ],
)
def test_blocks_are_listed_from_the_image(name, model, blocks):
    config, params = _d_params(name, **model)
    assert freeze.d_blocks(config.model.architecture, params) == blocks
    # Every block's groups exist; what is never frozen is the head.
    named = {n for b in blocks for n in b}
    assert named <= set(params)


def test_mask_marks_the_first_k_blocks_and_refuses_too_many():
    config, params = _d_params("tiny")
    mask = freeze.frozen_mask("dcgan", params, 2)
    assert all(jax.tree.leaves(mask["Conv_0"])) and all(jax.tree.leaves(mask["BatchNorm_0"]))
    assert not any(jax.tree.leaves(mask["logit"]))
    with pytest.raises(ConfigError, match="freeze_d=3 but the dcgan discriminator has 2 blocks"):
        freeze.frozen_mask("dcgan", params, 3)


def test_frozen_blocks_keep_their_values_while_the_rest_trains(tiny_config):
    """Three steps with Adam (whose momentum would move a parameter whose gradient is zero)."""
    tiny_config.freeze_d = 1
    run = build.build(tiny_config, parallel.create_mesh())
    state = run.init_state()
    start = jax.device_get(state)  # the step donates its input state
    step = run.train_step()
    dataset = datasets.load_dataset(tiny_config.dataset)
    for batch in data.batches(dataset, tiny_config, run.mesh, 0, 3):
        state, metrics = step(state, batch, run.keys["train"])
    for a, b in zip(jax.tree.leaves(state.d_params["Conv_0"]), jax.tree.leaves(start.d_params["Conv_0"])):
        np.testing.assert_array_equal(a, b)
    for name in ("Conv_1", "BatchNorm_0", "logit"):
        assert any(
            not np.array_equal(a, b)
            for a, b in zip(jax.tree.leaves(state.d_params[name]), jax.tree.leaves(start.d_params[name]))
        ), name
    assert np.isfinite(float(metrics["d_loss"]))
