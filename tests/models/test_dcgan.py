"""DCGAN shapes, value ranges and layer layout for every resolution and channel count."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.errors import ConfigError
from gan_jax.models import build_models, dcgan
from gan_jax.config import base_config


@pytest.mark.parametrize("resolution", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_ranges(resolution, channels):
    config = base_config()
    config.dataset.resolution, config.dataset.channels = resolution, channels
    config.model.dcgan.g_width = config.model.dcgan.d_width = 8
    g, d = build_models(config)
    z = jax.random.normal(jax.random.key(0), (3, config.model.z_dim))
    g_vars = g.init(jax.random.key(1), z, train=False)
    images, _ = g.apply(g_vars, z, train=True, mutable=["batch_stats"])
    assert images.shape == (3, resolution, resolution, channels)
    assert float(jnp.max(jnp.abs(images))) <= 1.0
    d_vars = d.init(jax.random.key(2), images, train=False)
    logits, _ = d.apply(d_vars, images, train=True, mutable=["batch_stats"])
    assert logits.shape == (3,) and logits.dtype == jnp.float32


def test_layer_layout_follows_the_paper():
    """64px, width 128: projection to 4x4x1024, then 512-256-128 feature maps, as in Radford et al."""
    g = dcgan.Generator(resolution=64, channels=3, width=128)
    params = jax.eval_shape(functools.partial(g.init, train=False), jax.random.key(0), jnp.zeros((1, 100)))[
        "params"
    ]
    assert params["project"]["kernel"].shape == (100, 4 * 4 * 1024)
    convs = [params[f"UpConv_{i}"]["kernel"].shape for i in range(3)]
    assert convs == [(4, 4, 1024, 512), (4, 4, 512, 256), (4, 4, 256, 128)]
    assert params["to_image"]["kernel"].shape == (4, 4, 128, 3)
    d = dcgan.Discriminator(resolution=64, width=128)
    dp = jax.eval_shape(functools.partial(d.init, train=False), jax.random.key(0), jnp.zeros((1, 64, 64, 3)))[
        "params"
    ]
    assert [dp[f"Conv_{i}"]["kernel"].shape[-1] for i in range(4)] == [128, 256, 512, 1024]
    assert "bias" in dp["Conv_0"] and "bias" not in dp["Conv_1"]
    assert dp["logit"]["kernel"].shape == (4 * 4 * 1024, 1)


def test_init_statistics():
    g = dcgan.Generator(resolution=32, channels=3, width=32)
    params = g.init(jax.random.key(0), jnp.zeros((1, 100)), train=False)["params"]
    kernel = np.asarray(params["UpConv_0"]["kernel"])
    assert abs(kernel.std() - 0.02) < 0.002 and abs(kernel.mean()) < 0.002
    scale = np.asarray(params["BatchNorm_1"]["scale"])
    assert abs(scale.mean() - 1.0) < 0.01


def test_unsupported_resolution_is_a_config_error():
    config = base_config()
    config.dataset.resolution = 48
    with pytest.raises(ConfigError, match="28, 32, 64"):
        build_models(config)


def test_eval_mode_is_deterministic_and_batch_independent():
    g = dcgan.Generator(resolution=28, channels=1, width=8)
    z = jax.random.normal(jax.random.key(0), (4, 100))
    v = g.init(jax.random.key(1), z, train=False)
    full = g.apply(v, z, train=False)
    np.testing.assert_allclose(g.apply(v, z[:1], train=False), full[:1], rtol=1e-5, atol=1e-6)
