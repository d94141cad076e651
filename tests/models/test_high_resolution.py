"""Every architecture at every resolution it makes, up to 1024 px: image and score shapes
and block widths, traced with `jax.eval_shape` (nothing is computed), then real steps at
256 and 1024 px on a packed dataset."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from gan_jax import models
from gan_jax.errors import ConfigError
from gan_jax.models import biggan
from gan_jax.data.pack_writer import Request, pack
from gan_jax.run.trainer import train_and_evaluate

SMALL = {  # model.<architecture> fields that keep the widest layer a few channels wide
    "dcgan": dict(g_width=2, d_width=2),
    "sngan": dict(g_width=4, d_width=4),
    "biggan": dict(g_width=1, d_width=1, shared_dim=4, attention_res=0),
    "stylegan2": dict(w_dim=8, mapping_layers=1, channel_base=4096, channel_max=4),
    "r3gan": dict(g_width=2, d_width=2),
}


def config_for(architecture: str, resolution: int, channels: int = 3):
    config = load_config("tiny")
    config.dataset.update(resolution=resolution, channels=channels)
    config.model.update(architecture=architecture, num_classes=0, z_dim=16)
    config.model[architecture].update(**SMALL[architecture])
    return config


def test_a_channel_base_that_leaves_no_channels_is_one_clear_error():
    config = config_for("stylegan2", 1024)
    config.model.stylegan2.channel_base = 512
    g, _ = models.build_models(config)
    with pytest.raises(ConfigError, match="channel_base=512 leaves no channels at 1024x1024"):
        jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((1, 16)), None, train=False))


def test_which_architectures_reach_1024():
    assert max(models.resolutions("dcgan")) == 64
    for architecture in ("sngan", "biggan", "stylegan2", "r3gan"):
        assert max(models.resolutions(architecture)) == 1024
    assert models.resolutions("biggan") == [28, 32, 64, 128, 256, 512, 1024]


@pytest.mark.parametrize(
    "architecture,resolution",
    [(a, r) for a in models.ARCHITECTURES for r in models.resolutions(a) if r >= 8],
)
def test_generator_and_discriminator_shapes(architecture, resolution):
    config = config_for(architecture, resolution)
    g, d = models.build_models(config)
    z = jax.ShapeDtypeStruct((2, config.model.z_dim), jnp.float32)
    g_vars = jax.eval_shape(lambda z: g.init(jax.random.key(0), z, None, train=False), z)
    images = jax.eval_shape(lambda v, z: g.apply(v, z, None, train=False), g_vars, z)
    assert images.shape == (2, resolution, resolution, 3) and images.dtype == jnp.float32
    d_vars = jax.eval_shape(lambda x: d.init(jax.random.key(1), x, None, train=False), images)
    scores = jax.eval_shape(lambda v, x: d.apply(v, x, None, train=False), d_vars, images)
    assert scores.shape == (2,)


def _block_widths(params: dict, prefix: str) -> list[int]:
    """Output channels of the first 3×3 convolution of each block ``prefix``_i, in order."""
    names = sorted((k for k in params if k.startswith(prefix)), key=lambda k: int(k.split("_")[-1]))
    return [params[k]["Conv_0"]["kernel"].shape[-1] for k in names]


@pytest.mark.parametrize("resolution", [256, 512, 1024])
def test_biggan_block_widths_follow_the_tables(resolution):
    """G: ch × [16, 8, 8, 4, 2, 1] at 256, one more ×1 block per doubling; D: ch × [1, 2, 4,
    8, 8, 16, 16] at 256, one more ×1 block in front per doubling (Brock et al. 2019, app. B)."""
    width = 3
    extra = {256: 0, 512: 1, 1024: 2}[resolution]
    g = biggan.Generator(resolution=resolution, width=width, shared_dim=4, attention_res=0)
    d = biggan.Discriminator(resolution=resolution, width=width, attention_res=0)
    z = jax.ShapeDtypeStruct((1, 20), jnp.float32)
    g_params = jax.eval_shape(lambda z: g.init(jax.random.key(0), z, None, train=False), z)["params"]
    assert _block_widths(g_params, "GBlock_") == [width * m for m in [16, 8, 8, 4, 2, 1] + [1] * extra]
    assert g_params["project"]["kernel"].shape[-1] == 16 * width * 4 * 4
    x = jax.ShapeDtypeStruct((1, resolution, resolution, 3), jnp.float32)
    d_params = jax.eval_shape(lambda x: d.init(jax.random.key(1), x, None, train=False), x)["params"]
    assert _block_widths(d_params, "DBlock_") == [width * m for m in [1] * extra + [1, 2, 4, 8, 8, 16, 16]]


def _train_on_a_pack(architecture: str, resolution: int, tmp_path) -> None:
    source = f"synthetic:8:{resolution}"
    pack(Request(source, resolution=resolution, format="png", shards=2), str(tmp_path / "pack"), log=print)
    config = config_for(architecture, resolution)
    config.dataset.update(source="auto", path=str(tmp_path / "pack"), workers=0)
    config.update(batch_size=8, num_steps=2, sample_every=2, checkpoint_every=2, eval_every=0)
    config.sample.num_images = 4
    state = train_and_evaluate(config, str(tmp_path / "run"))
    assert int(state.step) == 2
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.g_params))
    assert (tmp_path / "run" / "samples").exists()


@pytest.mark.slow
@pytest.mark.parametrize("architecture,resolution", [("biggan", 256), ("stylegan2", 1024), ("r3gan", 1024)])
def test_trains_at_high_resolution_on_a_pack(architecture, resolution, tmp_path):
    _train_on_a_pack(architecture, resolution, tmp_path)
