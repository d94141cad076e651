"""R3GAN's networks: the grouped block by hand, fix-up initialisation, shapes, precision.
(Parity with the authors' code on shared weights: tests/models/test_parity_r3gan.py.)"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.errors import ConfigError
from gan_jax.models import r3gan
from gan_jax.ops import upfirdn2d


def _naive_grouped_conv(x, kernel, groups):
    """'same' 3×3 grouped convolution as loops over groups and taps in numpy."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    h, w = x.shape[1:3]
    cin, cout = x.shape[-1] // groups, kernel.shape[-1] // groups
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for g in range(groups):
        for a in range(3):
            for c in range(3):
                y[..., g * cout : (g + 1) * cout] += (
                    xp[:, a : a + h, c : c + w, g * cin : (g + 1) * cin]
                    @ kernel[a, c, :, g * cout : (g + 1) * cout]
                )
    return y


def test_block_equals_naive_per_group_computation():
    block = r3gan.ResidualBlock(expansion=2, groups=4, total_blocks=8)
    x = jax.random.normal(jax.random.key(0), (2, 6, 6, 8))
    params = block.init(jax.random.key(1), x)["params"]
    # Move every parameter off its initial value (conv3 and the biases start at zero).
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(2), len(leaves))
    params = jax.tree.unflatten(tree, [p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
    lrelu = lambda t: np.where(t > 0, t, 0.2 * t)  # noqa: E731
    p = params
    y = np.einsum("bhwc,cd->bhwd", x, p["conv1"]["kernel"][0, 0])
    y = lrelu(y + p["act1"]["bias"])
    y = _naive_grouped_conv(y, p["conv2"]["kernel"], 4)
    y = lrelu(y + p["act2"]["bias"])
    want = np.asarray(x) + np.einsum("bhwc,cd->bhwd", y, p["conv3"]["kernel"][0, 0])
    np.testing.assert_allclose(block.apply({"params": params}, x), want, rtol=1e-5, atol=1e-5)


def test_fixup_initialisation():
    """Each block's last convolution starts at zero, so each block is its shortcut; the
    first two are N(0, (√(2/1.04)·L^(-1/4))²/fan_in)."""
    L = 12
    block = r3gan.ResidualBlock(expansion=2, groups=8, total_blocks=L)
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 64))
    params = block.init(jax.random.key(1), x)["params"]
    np.testing.assert_array_equal(params["conv3"]["kernel"], 0.0)
    np.testing.assert_array_equal(block.apply({"params": params}, x), x)
    gain = math.sqrt(2 / 1.04) * L**-0.25
    for name, fan_in in (("conv1", 64), ("conv2", 9 * 128 // 8)):
        std = float(np.std(params[name]["kernel"]))
        assert std == pytest.approx(gain / math.sqrt(fan_in), rel=0.05), name
    for name in ("act1", "act2"):
        np.testing.assert_array_equal(params[name]["bias"], 0.0)


def test_generator_at_init_is_its_shortcut_path():
    """With every residual branch zero, G is basis → (1×1, ×2 up)… → 1×1 aggregation."""
    g = r3gan.Generator(resolution=16, channels=1, z_dim=8, stage_widths=(32, 32, 16))
    z = jax.random.normal(jax.random.key(0), (3, 8))
    params = g.init(jax.random.key(1), z)["params"]
    x = params["basis"][None] * (z @ params["stage0_linear"]["kernel"])[:, None, None, :]
    f = upfirdn2d.setup_filter(r3gan.FILTER)
    x = upfirdn2d.upsample2d(x, f)
    x = upfirdn2d.upsample2d(x @ params["stage2_transition"]["kernel"][0, 0], f)
    want = x @ params["aggregate"]["kernel"][0, 0]
    np.testing.assert_allclose(g.apply({"params": params}, z), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_and_conditioning(num_classes):
    g = r3gan.Generator(resolution=32, channels=1, z_dim=16, width=32, num_classes=num_classes)
    d = r3gan.Discriminator(resolution=32, width=32, num_classes=num_classes)
    z, y = jnp.ones((4, 16)), jnp.arange(4) % max(num_classes, 1)
    gv = g.init(jax.random.key(0), z, y)
    img = g.apply(gv, z, y)
    assert img.shape == (4, 32, 32, 1) and img.dtype == jnp.float32
    dv = d.init(jax.random.key(1), img, y)
    assert d.apply(dv, img, y).shape == (4,)
    blocks = [k for k in gv["params"] if "_block" in k]
    assert len(blocks) == 8  # 2 per stage, 4 stages
    if num_classes:  # class weights: a one-hot row gives the label's image; a mix is linear
        onehot = jax.nn.one_hot(y, num_classes)
        np.testing.assert_allclose(g.apply(gv, z, onehot), img, atol=1e-6)
        assert gv["params"]["embed"]["kernel"].shape == (num_classes, 16)
        assert dv["params"]["embed"]["kernel"].shape == (num_classes, 32)


def test_bf16_stages_keep_float32_parameters_and_outputs():
    g = r3gan.Generator(resolution=32, channels=3, z_dim=8, width=32, num_bf16_res=2)
    d = r3gan.Discriminator(resolution=32, width=32, num_bf16_res=2)
    z = jax.random.normal(jax.random.key(0), (2, 8))
    gv = g.init(jax.random.key(1), z)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(gv))
    img = g.apply(gv, z)
    ref = r3gan.Generator(resolution=32, channels=3, z_dim=8, width=32).apply(gv, z)
    assert img.dtype == jnp.float32
    assert 0 < float(jnp.max(jnp.abs(img - ref))) < 0.05 * float(jnp.max(jnp.abs(ref)))
    dv = d.init(jax.random.key(2), img)
    assert d.apply(dv, img).dtype == jnp.float32


def test_stage_lists_must_fit_the_resolution():
    with pytest.raises(ConfigError, match="stage_widths has 3 entries"):
        r3gan.stage_plan(32, 64, (64, 64, 64), (), (), 2)
    with pytest.raises(ConfigError, match="groups"):
        r3gan.stage_plan(8, 64, (), (), (5, 5), 2)
    widths, blocks, groups = r3gan.stage_plan(32, 768, (), (), (), 2)
    assert (widths, blocks, groups) == ([768] * 4, [2] * 4, [96] * 4)  # the CIFAR-10 preset
