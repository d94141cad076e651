"""SNGAN ResNet models: shapes for every resolution, spectral state, and a tiny run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import resnet


@pytest.mark.parametrize("resolution", [28, 32, 64])
def test_shapes_and_collections(resolution):
    g = resnet.Generator(resolution=resolution, channels=3, width=8, num_classes=3)
    d = resnet.Discriminator(resolution=resolution, width=8, num_classes=3)
    z, y = jax.random.normal(jax.random.key(0), (2, 16)), jnp.array([0, 2])
    g_vars = g.init(jax.random.key(1), z, y, train=False)
    images, _ = g.apply(g_vars, z, y, train=True, mutable=["batch_stats"])
    assert images.shape == (2, resolution, resolution, 3) and float(jnp.max(jnp.abs(images))) <= 1
    d_vars = d.init(jax.random.key(2), images, y, train=False)
    assert set(d_vars) == {"params", "spectral"}  # no BatchNorm in D, power-iteration vectors instead
    logits, updated = d.apply(d_vars, images, y, train=True, mutable=["spectral"])
    assert logits.shape == (2,)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(updated), jax.tree.leaves(d_vars["spectral"]))
    ]
    assert any(changed)
    frozen = d.apply(d_vars, images, y, train=False)
    assert frozen.shape == (2,)


def test_discriminator_block_layout_follows_the_paper():
    """CIFAR-10 D: optimised block + down block to 8x8, then two blocks at 8x8 (Table 4)."""
    d = resnet.Discriminator(resolution=32, width=128)
    shapes = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))
    blocks = sorted(k for k in shapes["params"] if k.startswith("DBlock"))
    assert blocks == ["DBlock_0", "DBlock_1", "DBlock_2", "DBlock_3"]
    assert "shortcut" in shapes["params"]["DBlock_1"] and "shortcut" not in shapes["params"]["DBlock_2"]


def test_sngan_trains_and_g_update_leaves_d_spectral_state(tiny_config):
    from conftest import update_setup

    tiny_config.model.architecture = "sngan"
    tiny_config.loss.d_loss = tiny_config.loss.g_loss = "hinge"
    state, d_update, g_update, real, y, z = update_setup(tiny_config)
    after_g, metrics = jax.jit(g_update)(state, z, y, jax.random.key(3))
    for a, b in zip(jax.tree.leaves(after_g.d_vars), jax.tree.leaves(state.d_vars)):
        np.testing.assert_array_equal(a, b)
    after_d, metrics = jax.jit(d_update)(state, real, y, z, y, jax.random.key(2))
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(after_d.d_vars["spectral"]), jax.tree.leaves(state.d_vars["spectral"])
        )
    )
    assert np.isfinite(float(metrics["d_loss"]))


@pytest.mark.parametrize("num_classes", [0, 3])
def test_bfloat16_compute_keeps_float32_variables_and_outputs(num_classes):
    from conftest import check_bfloat16_against_float32

    check_bfloat16_against_float32(
        lambda dtype: (
            resnet.Generator(resolution=28, channels=1, width=8, num_classes=num_classes, dtype=dtype),
            resnet.Discriminator(resolution=28, width=8, num_classes=num_classes, dtype=dtype),
        ),
        num_classes=max(num_classes, 1),
    )
