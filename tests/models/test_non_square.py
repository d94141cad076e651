"""Non-square images (``dataset.aspect``): the base block's shape from the aspect, StyleGAN2's
and R3GAN's networks making and judging H × W images, square runs unchanged, and the
architectures without it refusing."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import load_config, tiny_stylegan2_config
from gan_jax import config as config_lib
from gan_jax.config.dataset import base_shape, image_shape
from gan_jax.errors import ConfigError
from gan_jax.models import build_models


def _ds(resolution, aspect):
    return ml_collections.ConfigDict(dict(resolution=resolution, aspect=aspect))


@pytest.mark.parametrize(
    "aspect, base, shape",
    [
        ("1:1", (4, 4), (32, 32)),
        ("4:3", (3, 4), (24, 32)),
        ("3:4", (4, 3), (32, 24)),
        ("8:6", (3, 4), (24, 32)),
        ("2:1", (2, 4), (16, 32)),
        ("1:4", (4, 1), (32, 8)),
    ],
)
def test_base_and_image_shape(aspect, base, shape):
    assert base_shape(_ds(32, aspect)) == base and image_shape(_ds(32, aspect)) == shape


@pytest.mark.parametrize(
    "aspect, message",
    [("16:9", "quarters of the longer one"), ("4x3", "width:height"), ("0:1", "width:height")],
)
def test_impossible_aspects_are_refused(aspect, message):
    with pytest.raises(ConfigError, match=message):
        base_shape(_ds(32, aspect))


def _configs(aspect):
    sg = tiny_stylegan2_config()
    r3 = load_config("r3gan_fashion_mnist")
    r3.dataset.resolution = 16
    r3.model.r3gan.update(stage_widths=(16, 16, 16), stage_blocks=(1, 1, 1), stage_groups=(4, 4, 4))
    for c in (sg, r3):
        c.dataset.aspect = aspect
        c.model.num_classes = 3
    return {"stylegan2": sg, "r3gan": r3}


@pytest.mark.parametrize("architecture", ["stylegan2", "r3gan"])
def test_networks_make_and_judge_h_by_w_images(architecture):
    config = _configs("4:3")[architecture]
    g, d = build_models(config)
    z, labels = jax.random.normal(jax.random.key(0), (2, config.model.z_dim)), jnp.asarray([0, 2])
    g_vars = jax.jit(lambda k: g.init(k, z, labels, train=False))(jax.random.key(1))
    images = jax.jit(lambda v: g.apply(v, z, labels, train=False))(g_vars)
    assert images.shape == (2, 12, 16, 1) and np.isfinite(images).all()
    d_vars = jax.jit(lambda k: d.init(k, images, labels, train=False))(jax.random.key(2))
    scores = jax.jit(lambda v: d.apply(v, images, labels, train=False))(d_vars)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    with pytest.raises(ConfigError if architecture == "stylegan2" else Exception):
        d.apply(d_vars, jnp.zeros((2, 16, 16, 1)), labels, train=False)  # square images do not fit


@pytest.mark.parametrize("architecture", ["stylegan2", "r3gan"])
def test_a_square_aspect_changes_no_parameter(architecture):
    """'1:1' and the default build the same variables as before the field existed."""
    config = _configs("1:1")[architecture]
    g, d = build_models(config)
    z, labels = jnp.zeros((2, config.model.z_dim)), jnp.zeros((2,), jnp.int32)
    shapes = jax.eval_shape(lambda k: g.init(k, z, labels, train=False), jax.random.key(0))
    first = {"stylegan2": ("params", "synthesis_network", "b4", "const"), "r3gan": ("params", "basis")}[
        architecture
    ]
    leaf = shapes
    for key in first:
        leaf = leaf[key]
    assert leaf.shape[:2] == (4, 4)


@pytest.mark.parametrize("architecture", ["dcgan", "sngan", "biggan"])
def test_square_only_architectures_refuse_an_aspect(architecture):
    config = config_lib.base_config()
    config.model.architecture = architecture
    config.dataset.update(resolution=32, aspect="4:3")
    with pytest.raises(ConfigError, match="non-square images are made by stylegan2 and r3gan"):
        config_lib.validate(config)
