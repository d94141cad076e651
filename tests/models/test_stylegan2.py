"""StyleGAN2 layers and networks: equalised learning rate, modulated convolution, w̄,
style mixing, truncation, shapes and labels. Numerical agreement with NVlabs' code is
tests/models/test_parity_stylegan2.py."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.config import base_config
from gan_jax.errors import ConfigError
from gan_jax.models import build_models, stylegan2
from gan_jax.models.stylegan2 import layers as sl
from gan_jax.ops import resample
from gan_jax.ops import upfirdn2d as fir

SMALL = dict(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
NUM_CLASSES = 3


def small_generator(resolution=32, num_classes=0, **kw):
    return stylegan2.Generator(resolution=resolution, channels=3, num_classes=num_classes, **{**SMALL, **kw})


def small_discriminator(resolution=32, num_classes=0, **kw):
    widths = {k: SMALL[k] for k in ("channel_base", "channel_max")}
    return stylegan2.Discriminator(resolution=resolution, num_classes=num_classes, **widths, **kw)


def perturbed(variables, seed=5):
    """Every leaf moved off its initial value (biases, noise strengths and w̄ start constant)."""
    leaves, treedef = jax.tree.flatten(variables)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    moved = [v + 0.3 * jax.random.normal(k, v.shape) for v, k in zip(leaves, keys)]
    return jax.tree.unflatten(treedef, moved)


def init_generator(g, batch=4, seed=0):
    """(z, perturbed variables) for a generator made by `small_generator`. Its variables depend
    on its resolution and classes alone (w̄'s beta, the mixing probability and the bfloat16
    resolutions hold none), so each (resolution, classes, batch, seed) initialises once."""
    return _initial_variables(g.resolution, g.num_classes, batch, seed)


@functools.lru_cache(maxsize=None)
def _initial_variables(resolution, num_classes, batch, seed):
    g = small_generator(resolution, num_classes)
    z = jax.random.normal(jax.random.key(seed), (batch, g.z_dim))
    return z, perturbed(g.init(jax.random.key(1), z, jnp.zeros((batch,), jnp.int32), train=False))


# Equalised learning rate ------------------------------------------------------------------


def test_dense_uses_stored_weights_times_the_runtime_gain():
    layer = sl.FullyConnected(5, "lrelu", lr_mul=0.01, bias_init=0.5)
    x = jax.random.normal(jax.random.key(0), (3, 7))
    params = layer.init(jax.random.key(1), x)["params"]
    assert params["weight"].shape == (7, 5)
    np.testing.assert_allclose(params["bias"], 0.5)
    w, b = np.asarray(params["weight"]), np.asarray(params["bias"])
    pre = np.asarray(x) @ (w * 0.01 / np.sqrt(7)) + b * 0.01
    want = np.sqrt(2) * np.where(pre >= 0, pre, 0.2 * pre)
    np.testing.assert_allclose(layer.apply({"params": params}, x), want, rtol=1e-5, atol=1e-6)
    # Stored N(0, 1)/λ: the effective weight is N(0, 1/fan_in) whatever λ.
    big = sl.FullyConnected(512, lr_mul=0.01).init(jax.random.key(2), jnp.zeros((1, 512)))["params"]
    assert abs(float(jnp.std(big["weight"])) - 100.0) < 2.0


def test_conv_uses_stored_weights_times_the_runtime_gain():
    layer = sl.Conv2d(4, 3, "linear")
    x = jax.random.normal(jax.random.key(0), (2, 6, 6, 5))
    params = perturbed(layer.init(jax.random.key(1), x))["params"]
    w = params["weight"] / np.sqrt(5 * 9)
    want = (
        jax.lax.conv_general_dilated(
            x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        + params["bias"]
    )
    np.testing.assert_allclose(layer.apply({"params": params}, x), want, rtol=1e-5, atol=1e-5)


def test_conv_clamp_scales_with_the_gain():
    layer = sl.Conv2d(2, 1, "linear", conv_clamp=0.5)
    x = 10 * jax.random.normal(jax.random.key(0), (1, 4, 4, 3))
    variables = layer.init(jax.random.key(1), x)
    assert float(jnp.abs(layer.apply(variables, x)).max()) == pytest.approx(0.5)
    assert float(jnp.abs(layer.apply(variables, x, gain=0.5)).max()) == pytest.approx(0.25)


# Modulated convolution --------------------------------------------------------------------


def naive_modconv(x, weight, styles, demodulate, up):
    """Per sample: w' = s ⊙ w, w'' = w' / ‖w'‖ per output channel, then its own convolution."""
    f = fir.setup_filter() if up > 1 else None
    outs = []
    for b in range(x.shape[0]):
        wb = weight * styles[b][None, None, :, None]
        if demodulate:
            wb = wb / jnp.sqrt(jnp.sum(wb**2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        outs.append(resample.conv2d_resample(x[b : b + 1], wb, f, up=up, padding=weight.shape[0] // 2))
    return jnp.concatenate(outs)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "nonfused"])
@pytest.mark.parametrize("up,demodulate", [(1, True), (2, True), (1, False)])
def test_modulated_conv_matches_per_sample_convolution(fused, up, demodulate):
    x = jax.random.normal(jax.random.key(0), (3, 6, 6, 5))
    weight = jax.random.normal(jax.random.key(1), (3, 3, 5, 4))
    styles = 1 + 0.5 * jax.random.normal(jax.random.key(2), (3, 5))
    f = fir.setup_filter() if up > 1 else None
    got = sl.modulated_conv2d(
        x, weight, styles, up=up, padding=1, resample_filter=f, demodulate=demodulate, fused=fused
    )
    want = naive_modconv(x, weight, styles, demodulate, up)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_fused_and_nonfused_agree_with_noise():
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 6))
    weight = jax.random.normal(jax.random.key(1), (3, 3, 6, 7))
    styles = jax.random.normal(jax.random.key(2), (2, 6))
    noise = jax.random.normal(jax.random.key(3), (2, 8, 8, 1))
    a, b = (sl.modulated_conv2d(x, weight, styles, noise, padding=1, fused=fused) for fused in (True, False))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_demodulated_output_has_unit_std_for_unit_variance_input():
    """E[y²] = Σ w''² · E[x²] = 1 for i.i.d. unit-variance inputs (interior pixels)."""
    x = jax.random.normal(jax.random.key(0), (4, 20, 20, 256))
    weight = jax.random.normal(jax.random.key(1), (3, 3, 256, 64))
    styles = jnp.exp(jax.random.normal(jax.random.key(2), (4, 256)))  # very unequal scales
    y = np.asarray(sl.modulated_conv2d(x, weight, styles, padding=1))[:, 1:-1, 1:-1]
    # 4·18·18·64 ≈ 83k nearly independent values: the std is within ~0.5% of 1.
    assert abs(y.std() - 1.0) < 0.02
    assert np.all(np.abs(y.std(axis=(0, 1, 2)) - 1.0) < 0.1)  # and for every output channel


def test_reduced_precision_modconv_stays_close():
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
    weight = jax.random.normal(jax.random.key(1), (3, 3, 16, 8))
    styles = 3 * jax.random.normal(jax.random.key(2), (2, 16))
    full = sl.modulated_conv2d(x, weight, styles, padding=1)
    for fused in (True, False):
        low = sl.modulated_conv2d(x.astype(jnp.bfloat16), weight, styles, padding=1, fused=fused)
        assert low.dtype == jnp.bfloat16
        np.testing.assert_allclose(low.astype(jnp.float32), full, atol=0.06)


# w̄, style mixing, truncation --------------------------------------------------------------


def test_w_avg_moves_towards_the_batch_mean_in_training_only():
    g = small_generator(w_avg_beta=0.9)
    z, v = init_generator(g)
    w = np.asarray(g.apply(v, z, method="mapping"))[:, 0]
    old = np.asarray(v["w_avg"]["mapping_network"]["w_avg"])
    want = w.mean(0) + 0.9 * (old - w.mean(0))
    _, upd = g.apply(v, z, train=True, method="mapping", mutable=["w_avg"])
    np.testing.assert_allclose(upd["w_avg"]["mapping_network"]["w_avg"], want, rtol=1e-5, atol=1e-6)
    _, upd = g.apply(v, z, train=False, method="mapping", mutable=["w_avg"])
    np.testing.assert_array_equal(upd["w_avg"]["mapping_network"]["w_avg"], old)
    # The style-mixing latent does not move it: the styles the call uses update from z alone.
    gm = g.clone(style_mixing_prob=1.0)
    _, upd = gm.apply(
        v, z, train=True, method="styles", rngs={"mixing": jax.random.key(1)}, mutable=["w_avg"]
    )
    np.testing.assert_allclose(upd["w_avg"]["mapping_network"]["w_avg"], want, rtol=1e-5, atol=1e-6)


def _mixing_rows(g, v, z, key):
    """(styles for z, styles for a perturbed z) with the same mixing key, and the plain ws."""
    other = z + 0.5 * jax.random.normal(jax.random.key(99), z.shape)
    ws = [np.asarray(g.apply(v, zz, train=True, method="styles", rngs={"mixing": key})) for zz in (z, other)]
    return ws[0], ws[1], np.asarray(g.apply(v, z, method="mapping"))


def test_style_mixing_takes_the_rows_after_the_cutoff_from_the_second_latent():
    g = small_generator(style_mixing_prob=0.5)
    z, v = init_generator(g)
    n, cutoffs = stylegan2.num_ws(32), []
    for i in range(40):
        mixed, mixed_other, ws = _mixing_rows(g, v, z, jax.random.key(i))
        # Rows fed by the first latent change with it; rows fed by the second do not.
        changed = np.abs(mixed - mixed_other).max(axis=(0, 2)) > 1e-6
        cutoff = int(np.argmin(changed)) if not changed.all() else n
        assert changed[:cutoff].all() and not changed[cutoff:].any()
        np.testing.assert_array_equal(mixed[:, :cutoff], ws[:, :cutoff])
        if cutoff < n:
            assert np.abs(mixed[:, cutoff:] - ws[:, cutoff:]).min() > 0  # really another latent
        cutoffs.append(cutoff)
    mixed_fraction = np.mean(np.array(cutoffs) < n)
    assert 0.25 < mixed_fraction < 0.75 and min(cutoffs) >= 1
    assert len(set(c for c in cutoffs if c < n)) > 2  # the crossover point varies


def test_no_mixing_with_probability_zero_or_outside_training():
    g = small_generator(style_mixing_prob=0.0)
    z, v = init_generator(g)
    ws = g.apply(v, z, method="mapping")
    for i in range(5):
        np.testing.assert_array_equal(
            g.apply(v, z, train=True, method="styles", rngs={"mixing": jax.random.key(i)}), ws
        )
    np.testing.assert_array_equal(g.clone(style_mixing_prob=1.0).apply(v, z, method="styles"), ws)


def test_truncation():
    g = small_generator()
    z, v = init_generator(g)
    ws = np.asarray(g.apply(v, z, method="mapping"))
    np.testing.assert_array_equal(g.apply(v, z, truncation_psi=1.0, method="mapping"), ws)
    w_avg = np.asarray(v["w_avg"]["mapping_network"]["w_avg"])
    zero = np.asarray(g.apply(v, z, truncation_psi=0.0, method="mapping"))
    np.testing.assert_allclose(zero, np.broadcast_to(w_avg, ws.shape), rtol=1e-6, atol=1e-6)
    half = np.asarray(g.apply(v, z, truncation_psi=0.5, truncation_cutoff=3, method="mapping"))
    np.testing.assert_allclose(half[:, :3], w_avg + 0.5 * (ws[:, :3] - w_avg), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(half[:, 3:], ws[:, 3:])


# Networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [32, pytest.param(64, marks=pytest.mark.slow)])
@pytest.mark.parametrize("num_classes", [pytest.param(0, marks=pytest.mark.slow), NUM_CLASSES])
def test_shapes(resolution, num_classes):
    g, d = small_generator(resolution, num_classes), small_discriminator(resolution, num_classes)
    z = jax.random.normal(jax.random.key(0), (4, SMALL["z_dim"]))
    labels = jnp.array([0, 1, 2, 1], jnp.int32)
    gv = g.init(jax.random.key(1), z, labels, train=False)
    assert set(gv) == {"params", "w_avg", "noise_const"}
    ws = g.apply(gv, z, labels, method="mapping")
    assert ws.shape == (4, stylegan2.num_ws(resolution), SMALL["w_dim"])
    rngs = {"noise": jax.random.key(2), "mixing": jax.random.key(3)}
    img, _ = g.apply(gv, z, labels, train=True, rngs=rngs, mutable=["w_avg"])
    assert img.shape == (4, resolution, resolution, 3) and img.dtype == jnp.float32
    assert g.apply(gv, ws, method="synthesis").shape == img.shape
    dv = d.init(jax.random.key(4), img, labels, train=False)
    scores = d.apply(dv, img, labels, train=True)
    assert scores.shape == (4,) and bool(jnp.all(jnp.isfinite(scores)))


def test_noise_modes():
    g = small_generator()
    z, v = init_generator(g)
    const = g.apply(v, z, train=False)
    np.testing.assert_array_equal(g.apply(v, z, train=False, noise_mode="const"), const)
    assert np.abs(g.apply(v, z, train=False, noise_mode="none") - const).max() > 1e-4
    a, b = (
        g.apply(v, z, train=False, noise_mode="random", rngs={"noise": jax.random.key(i)}) for i in (0, 1)
    )
    assert np.abs(a - b).max() > 1e-4


@pytest.mark.parametrize("train", [False, True])
def test_one_hot_weights_give_exactly_the_int_label_results(train):
    g, d = small_generator(num_classes=NUM_CLASSES), small_discriminator(num_classes=NUM_CLASSES)
    z, gv = init_generator(g)
    y = jnp.array([0, 2, 1, 2], jnp.int32)
    rngs = {"noise": jax.random.key(0), "mixing": jax.random.key(1)}

    def run(labels):
        return jax.tree.leaves(g.apply(gv, z, labels, train=train, rngs=rngs, mutable=["w_avg"]))

    by_id, by_hot = run(y), run(jax.nn.one_hot(y, NUM_CLASSES))
    assert all(np.array_equal(a, b) for a, b in zip(by_id, by_hot))
    x = g.apply(gv, z, y, train=False)
    dv = perturbed(d.init(jax.random.key(2), x, y))
    np.testing.assert_array_equal(d.apply(dv, x, y), d.apply(dv, x, jax.nn.one_hot(y, NUM_CLASSES)))
    mixed = g.apply(gv, z, jnp.full((4, NUM_CLASSES), 1 / NUM_CLASSES), train=False)
    assert np.abs(mixed - g.apply(gv, z, y, train=False)).max() > 1e-3  # labels do reach G


def test_bf16_resolutions_stay_close_to_float32():
    g, g16 = small_generator(), small_generator(num_bf16_res=2)
    z, v = init_generator(g)
    full, low = g.apply(v, z, train=False), g16.apply(v, z, train=False)
    assert low.dtype == jnp.float32
    assert float(jnp.abs(low - full).max()) < 0.05 * float(jnp.abs(full).max())
    d, d16 = small_discriminator(), small_discriminator(num_bf16_res=2)
    dv = perturbed(d.init(jax.random.key(0), full))
    np.testing.assert_allclose(d16.apply(dv, full), d.apply(dv, full), rtol=0.05, atol=0.05)


def test_layout_and_config_errors():
    for bad in (48, 2048, 2):
        with pytest.raises(ConfigError, match="dataset.resolution"):
            stylegan2.layout(bad)
    assert stylegan2.layout(32) == [4, 8, 16, 32] and stylegan2.num_ws(1024) == 18
    with pytest.raises(ConfigError, match="mbstd_group"):
        small_discriminator().init(jax.random.key(0), jnp.zeros((6, 32, 32, 3)))


def test_build_models_reads_the_config_fields():
    """The common fields from ``model``, StyleGAN2's own from ``model.stylegan2``."""
    config = base_config()
    config.model.architecture, config.model.z_dim = "stylegan2", 32
    section = config.model.stylegan2
    section.channel_base, section.channel_max, section.mapping_layers, section.mbstd_group = 512, 32, 3, 2
    config.dataset.resolution, config.dataset.channels = 32, 1
    g, d = build_models(config)
    assert (g.z_dim, g.mapping_layers, g.channels, d.mbstd_group) == (32, 3, 1, 2)
    assert g.style_mixing_prob == 0.9 and g.conv_clamp == 256.0 and d.channel_max == 32


def test_orig_discriminator_has_no_skip_branch():
    d = small_discriminator(d_architecture="orig")
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    variables = d.init(jax.random.key(1), x)
    assert "skip" not in variables["params"]["b32"] and "conv1" in variables["params"]["b32"]
    assert d.apply(variables, x).shape == (4,)
    with pytest.raises(ConfigError, match="d_architecture"):
        small_discriminator(d_architecture="skip").init(jax.random.key(1), x)
