"""BigGAN-style models: shapes, hierarchical z, conditioning, spectral state of both networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import biggan


def _leaves_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize(
    "resolution,attention",
    [
        pytest.param(28, 14, marks=pytest.mark.slow),  # 28 px with attention: the update test's networks
        (32, 16),
        pytest.param(64, 32, marks=pytest.mark.slow),
    ],
)
def test_shapes_collections_and_attention(resolution, attention):
    g = biggan.Generator(
        resolution=resolution, channels=3, width=8, num_classes=3, shared_dim=8, attention_res=attention
    )
    d = biggan.Discriminator(resolution=resolution, width=8, num_classes=3, attention_res=attention)
    z, y = jax.random.normal(jax.random.key(0), (2, 20)), jnp.array([0, 2])
    g_vars = g.init(jax.random.key(1), z, y, train=False)
    assert set(g_vars) == {"params", "batch_stats", "spectral"}  # SN in G as well
    assert "SelfAttention_0" in g_vars["params"] and "shared" in g_vars["params"]
    images, _ = g.apply(g_vars, z, y, train=True, mutable=["batch_stats", "spectral"])
    assert images.shape == (2, resolution, resolution, 3) and float(jnp.max(jnp.abs(images))) <= 1
    d_vars = d.init(jax.random.key(2), images, y, train=False)
    assert set(d_vars) == {"params", "spectral"} and "SelfAttention_0" in d_vars["params"]
    assert d.apply(d_vars, images, y, train=False).shape == (2,)


def test_z_chunks_cover_z():
    assert biggan.z_chunks(120, 5) == [20] * 6
    assert biggan.z_chunks(128, 2) == [43, 43, 42]
    assert sum(biggan.z_chunks(100, 3)) == 100


def test_hierarchical_z_reaches_every_block():
    """Changing only the last chunk of z (the last block's) changes the image."""
    g = biggan.Generator(resolution=28, channels=1, width=8, num_classes=0, hierarchical_z=True)
    z = jax.random.normal(jax.random.key(0), (4, 12))  # chunks 4/4/4
    variables = g.init(jax.random.key(1), z, None, train=False)
    # BatchNorm gains start at 1 + W c with orthogonal W: non-zero, so z's last chunk matters.
    a = g.apply(variables, z, None, train=False)
    b = g.apply(variables, z.at[:, 8:].add(1.0), None, train=False)
    c = g.apply(variables, z.at[:, 8:].add(0.0), None, train=False)
    assert not np.allclose(a, b) and np.array_equal(a, c)
    flat = biggan.Generator(resolution=28, channels=1, width=8, hierarchical_z=False)
    assert "ModulatedBatchNorm_0" not in str(
        jax.tree_util.tree_structure(flat.init(jax.random.key(1), z, None, train=False))
    )


def test_conditional_generator_makes_different_images_per_class():
    g = biggan.Generator(resolution=28, channels=1, width=8, num_classes=10, shared_dim=8)
    z = jnp.tile(jax.random.normal(jax.random.key(0), (1, 12)), (10, 1))  # one z for all classes
    variables = g.init(jax.random.key(1), z, jnp.arange(10), train=False)
    images = np.asarray(g.apply(variables, z, jnp.arange(10), train=False))
    diffs = [np.abs(images[i] - images[j]).mean() for i in range(10) for j in range(i)]
    assert min(diffs) > 1e-4


@pytest.mark.slow  # tests/models/test_resnet.py checks the same for SNGAN in make test
def test_d_update_does_not_touch_g_spectral_state_and_g_update_advances_it(tiny_config):
    from conftest import update_setup

    tiny_config.model.update(architecture="biggan", num_classes=4)
    tiny_config.model.biggan.update(shared_dim=8, attention_res=14)
    tiny_config.loss.d_loss = tiny_config.loss.g_loss = "hinge"
    state, d_update, g_update, real, y, z = update_setup(tiny_config)
    after_d, metrics = jax.jit(d_update)(state, real, y, z, y, jax.random.key(2))
    assert _leaves_equal(after_d.g_vars, state.g_vars)  # G's spectral vectors and BN stats untouched
    assert not _leaves_equal(after_d.d_vars["spectral"], state.d_vars["spectral"])
    after_g, _ = jax.jit(g_update)(state, z, y, jax.random.key(3))
    assert _leaves_equal(after_g.d_vars, state.d_vars)
    assert not _leaves_equal(after_g.g_vars["spectral"], state.g_vars["spectral"])
    assert np.isfinite(float(metrics["d_loss"]))


def test_sampling_with_standing_stats_works_with_spectral_generator():
    from gan_jax.training import sample

    g = biggan.Generator(resolution=28, channels=1, width=8, num_classes=3, shared_dim=8)
    z, y = jax.random.normal(jax.random.key(0), (6, 12)), jnp.arange(6) % 3
    variables = g.init(jax.random.key(1), z, y, train=False)
    params, g_vars = variables["params"], {k: v for k, v in variables.items() if k != "params"}
    images = sample.sampler_on(g, z, y)(params, g_vars, z, y)
    assert images.shape == (6, 28, 28, 1)
    # each image depends on its own (z, y) only: sampling the first three alone gives the same
    alone = sample.sampler_on(g, z, y)(params, g_vars, z[:3], y[:3])
    np.testing.assert_allclose(alone, images[:3], atol=1e-5)


def test_bfloat16_compute_keeps_float32_variables_and_outputs():
    """Attention, modulated BatchNorm, spectral norm in both networks, projection."""
    from conftest import check_bfloat16_against_float32

    check_bfloat16_against_float32(
        lambda dtype: (
            biggan.Generator(
                resolution=28, channels=1, width=8, num_classes=3, shared_dim=8, attention_res=14, dtype=dtype
            ),
            biggan.Discriminator(resolution=28, width=8, num_classes=3, attention_res=14, dtype=dtype),
        )
    )
