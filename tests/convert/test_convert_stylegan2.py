"""convert_stylegan2: NVlabs-layout state dicts round-trip into gan_jax variables, and
every missing, unexpected or mis-shaped tensor is named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.convert import stylegan2 as cv
from gan_jax.convert.common import from_torch, load_state_dict
from gan_jax.errors import ConfigError, GanJaxError
from gan_jax.models import stylegan2
from gan_jax.ops import upfirdn2d

SMALL = dict(channel_base=256, channel_max=16)


def generator(num_classes=2):
    return stylegan2.Generator(
        resolution=16, channels=3, num_classes=num_classes, z_dim=8, w_dim=8, mapping_layers=2, **SMALL
    )


def discriminator(num_classes=2):
    return stylegan2.Discriminator(resolution=16, num_classes=num_classes, mbstd_group=2, **SMALL)


def torch_state(model, prefix, variables, seed=0):
    """An NVlabs-layout state dict holding random values, and the variables they must become."""
    rng = np.random.default_rng(seed)
    state, want = {}, {}
    for name, (collection, keys, shape) in cv.torch_layout(model).items():
        value = rng.standard_normal(shape).astype(np.float32)
        state[prefix + name] = value
        want[(collection,) + keys] = from_torch(value) if collection == "params" else value
    for res in (4, 8, 16):  # NVlabs' filter buffers, which the converter checks and drops
        state[f"{prefix}b{res}.resample_filter"] = upfirdn2d.setup_filter((1, 3, 3, 1))
    return state, want


def test_generator_round_trip_through_npz(tmp_path):
    g = generator()
    z = jnp.zeros((2, 8))
    variables = g.init(jax.random.key(0), z, jnp.zeros((2,), jnp.int32), train=False)
    state, want = torch_state(g, "G_ema.", variables)
    assert state["G_ema.synthesis.b4.conv1.weight"].shape == (16, 16, 3, 3)  # OIHW
    assert state["G_ema.mapping.fc0.weight"].shape == (8, 16)  # [out, in]: z and the embedding
    assert state["G_ema.synthesis.b4.const"].shape == (16, 4, 4)
    path = str(tmp_path / "g.npz")
    other_network = {"D.b16.conv0.weight": np.zeros((1,), np.float32)}  # ignored: another prefix
    np.savez(path, **state, **other_network)
    params, collections = cv.convert(load_state_dict(path), "G_ema.", g)
    assert set(collections) == {"w_avg", "noise_const"}
    converted = {"params": params, **collections}
    assert jax.tree.structure(converted) == jax.tree.structure(jax.tree.map(np.asarray, variables))
    for keys, value in want.items():
        node = converted
        for k in keys:
            node = node[k]
        np.testing.assert_array_equal(node, value)
    np.testing.assert_array_equal(
        params["synthesis_network"]["b4"]["conv1"]["weight"],
        state["G_ema.synthesis.b4.conv1.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        collections["w_avg"]["mapping_network"]["w_avg"], state["G_ema.mapping.w_avg"]
    )
    g.apply(converted, z, jnp.array([0, 1]), train=False)  # a usable set of variables


def test_discriminator_round_trip_infers_the_channels():
    d = discriminator()
    variables = d.init(jax.random.key(0), jnp.zeros((2, 16, 16, 1)), jnp.zeros((2,), jnp.int32))
    state, _ = torch_state(d, "D.", variables)
    state = {k: v for k, v in state.items() if "fromrgb" not in k}
    state["D.b16.fromrgb.weight"] = np.ones((16, 1, 1, 1), np.float32)  # 1 input channel
    state["D.b16.fromrgb.bias"] = np.zeros((16,), np.float32)
    params, collections = cv.convert(state, "D.", d)
    assert collections == {}
    assert params["b16"]["fromrgb"]["weight"].shape == (1, 1, 1, 16)
    assert params["mapping"]["embed"]["weight"].shape == (2, 16)
    d.apply({"params": params}, jnp.zeros((2, 16, 16, 1)), jnp.array([0, 1]))


@pytest.fixture
def g_state():
    g = generator()
    labels = jnp.zeros((2,), jnp.int32)
    variables = g.init(jax.random.key(0), jnp.zeros((2, 8)), labels, train=False)
    return g, torch_state(g, "G.", variables)[0]


def test_missing_tensor_is_named(g_state):
    g, state = g_state
    del state["G.synthesis.b8.conv0.noise_strength"]
    with pytest.raises(ConfigError, match=r"missing tensor G.synthesis.b8.conv0.noise_strength"):
        cv.convert(state, "G.", g)


def test_unexpected_tensor_is_named(g_state):
    g, state = g_state
    state["G.synthesis.b32.conv0.weight"] = np.zeros((16, 16, 3, 3), np.float32)
    with pytest.raises(ConfigError, match=r"unexpected tensor G\.synthesis\.b32\.conv0\.weight"):
        cv.convert(state, "G.", g)


def test_mismatched_shape_is_named(g_state):
    g, state = g_state
    state["G.mapping.fc1.weight"] = np.zeros((8, 9), np.float32)
    with pytest.raises(ConfigError, match=r"G\.mapping\.fc1\.weight has shape \(8, 9\)"):
        cv.convert(state, "G.", g)


def test_other_resample_filter_is_refused(g_state):
    g, state = g_state
    state["G.synthesis.b8.resample_filter"] = np.full((4, 4), 1 / 16, np.float32)
    with pytest.raises(ConfigError, match="resample_filter"):
        cv.convert(state, "G.", g)


def test_wrong_prefix_and_file_type(g_state, tmp_path):
    g, state = g_state
    with pytest.raises(ConfigError, match=r"no tensors named D\.\*"):
        cv.convert(state, "D.", discriminator())
    with pytest.raises(GanJaxError, match="npz or .safetensors"):
        load_state_dict(str(tmp_path / "g.pkl"))
    with pytest.raises(ConfigError, match="missing tensor G.mapping.embed"):
        cv.convert({k: v for k, v in state.items() if ".embed." not in k}, "G.", g)
