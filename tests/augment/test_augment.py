"""DiffAugment and ADA: values against numpy references and NVlabs' AugmentPipe, determinism,
gradients, p's controller."""

import os
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import peer_env

from gan_jax import augment
from gan_jax.augment import filter as augment_filter
from gan_jax.augment import ada
from gan_jax.augment import geometry as geo
from gan_jax.config import base_config


def _images(b=6, size=16, c=3, seed=0):
    return jax.random.uniform(jax.random.key(seed), (b, size, size, c), minval=-1.0, maxval=1.0)


def test_translate_matches_a_numpy_loop():
    x = np.asarray(_images(3, 8, 2))
    shifts = np.array([[1, -2], [0, 0], [-1, 2]])
    out = np.asarray(augment.translate(jnp.asarray(x), jnp.asarray(shifts), 2))
    expected = np.zeros_like(x)
    for i, (dy, dx) in enumerate(shifts):
        for r in range(8):
            for c in range(8):
                if 0 <= r - dy < 8 and 0 <= c - dx < 8:
                    expected[i, r, c] = x[i, r - dy, c - dx]
    np.testing.assert_array_equal(out, expected)


def test_cutout_mask_zeroes_one_square_of_half_the_size():
    mask = np.asarray(augment.cutout_mask(jax.random.key(0), (64, 16, 16, 1)))[..., 0]
    for m in mask:
        rows, cols = np.nonzero(m == 0)
        # a full 8x8 square unless it crosses the border, in which case a clipped rectangle
        assert rows.max() - rows.min() + 1 <= 8 and cols.max() - cols.min() + 1 <= 8
        assert (m == 0).sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert (mask == 0).sum(axis=(1, 2)).max() == 64


def test_colour_ops_by_hand():
    x = jnp.asarray(np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3) / 24.0)
    m_c = x.mean(axis=3, keepdims=True)
    np.testing.assert_allclose(augment.saturation(x, 0.0), np.broadcast_to(m_c, x.shape), atol=1e-7)
    np.testing.assert_allclose(augment.saturation(x, 1.0), x, atol=1e-7)
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(augment.contrast(x, 2.0), m + 2.0 * (x - m), atol=1e-6)
    np.testing.assert_allclose(augment.brightness(x, 0.25), x + 0.25)


@pytest.mark.parametrize("kind", ["diffaugment", "ada"])
def test_shape_determinism_and_gradients(kind):
    x = _images()
    fn = jax.jit(
        (lambda t, k: augment.diff_augment(t, k))
        if kind == "diffaugment"
        else (lambda t, k: augment.ada_augment(t, k, jnp.float32(0.8)))
    )
    a, b, c = fn(x, jax.random.key(1)), fn(x, jax.random.key(1)), fn(x, jax.random.key(2))
    assert a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # The augmentation is differentiable: G's gradient reaches every pixel some image keeps.
    grads = jax.grad(lambda t: jnp.sum(fn(t, jax.random.key(1)) ** 2))(x)
    assert np.all(np.isfinite(grads)) and np.count_nonzero(grads) > 0.3 * x.size
    # ... and equals the finite difference of the augmented image along a random direction.
    v = jax.random.normal(jax.random.key(5), x.shape)
    f = lambda t: jnp.sum(fn(t, jax.random.key(1)) * v)  # noqa: E731
    eps = 1e-2
    numeric = (f(x + eps * v) - f(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(jnp.sum(jax.grad(f)(x) * v), numeric, rtol=1e-3)


def test_diffaugment_policy_subsets():
    x = _images()
    only_colour = augment.diff_augment(x, jax.random.key(0), ("color",))
    # colour ops are affine per image: no pixel is zeroed or moved, so rank order per image holds
    for o, i in zip(np.asarray(only_colour)[..., 0], np.asarray(x)[..., 0]):
        assert np.corrcoef(o.ravel(), i.ravel())[0, 1] > 0.5
    np.testing.assert_array_equal(augment.diff_augment(x, jax.random.key(0), ()), x)


def test_ada_adjust_moves_p_up_when_d_overfits_and_down_otherwise():
    p = jnp.float32(0.5)
    # r_t = 0.9 > 0.6: D is sure about real images; 64 images shown at kimg=1 move p by 0.064
    up = augment.ada_adjust(p, jnp.float32(0.9 * 64), jnp.float32(64), 0.6, 1.0, 64)
    down = augment.ada_adjust(p, jnp.float32(0.1 * 64), jnp.float32(64), 0.6, 1.0, 64)
    assert float(up) == pytest.approx(0.564) and float(down) == pytest.approx(0.436)
    assert float(augment.ada_adjust(jnp.float32(0.0), jnp.float32(-64), jnp.float32(64), 0.6, 1.0, 64)) == 0.0
    assert float(augment.ada_adjust(p, jnp.float32(0), jnp.float32(0), 0.6, 1.0, 64)) == 0.5  # nothing seen


def test_ada_adjust_moves_by_the_images_shown_whatever_was_tallied_and_is_not_capped_at_1():
    """NVlabs' step is batch × interval / (kimg · 1000), however many scores the tally holds
    (its Dreg passes add a second look at some batches), and p is clamped below only."""
    # 96 scores tallied (64 shown + a lazy R1 pass over 32), mean 0.75 > 0.6
    p = augment.ada_adjust(jnp.float32(0.99), jnp.float32(72), jnp.float32(96), 0.6, 1.0, 64)
    assert float(p) == pytest.approx(0.99 + 0.064)
    p = augment.ada_adjust(jnp.float32(0.01), jnp.float32(-96), jnp.float32(96), 0.6, 1.0, 64)
    assert float(p) == 0.0


@pytest.mark.slow  # make test-all
def test_ada_p_follows_the_sign_of_d_real_inside_the_step(tiny_config):
    """Train tiny runs with ADA adjusting every step: p rises with a target D(real) easily
    exceeds (−1: every positive score counts as over-fitting) and falls with one it cannot
    reach (1)."""
    from gan_jax.training import build
    from gan_jax.data import pipeline as data
    from gan_jax.data import sources as datasets

    results = {}
    for target in (-1.0, 1.0):
        config = tiny_config.copy_and_resolve_references()
        config.augment.update(kind="ada", ada_p=0.5, ada_target=target, ada_interval=1, ada_kimg=0.1)
        run = build.build(config)
        state, step = run.init_state(), run.train_step()
        dataset = datasets.load_dataset(config.dataset)
        ps = []
        for batch in data.batches(dataset, config, run.mesh, 0, 3):
            state, metrics = step(state, batch, run.keys["train"])
            ps.append(float(state.aux["ada"]["p"]))
        assert float(metrics["ada_p"]) == ps[-2]  # the p the step used is logged
        results[target] = ps
    assert results[-1.0][-1] > 0.5 and results[1.0][-1] < 0.5


def test_config_rejects_unknown_augmentations():
    from gan_jax.config import validate
    from gan_jax.errors import ConfigError

    config = base_config()
    config.augment.kind = "mixup"
    with pytest.raises(ConfigError, match="augment.kind"):
        validate(config)
    config.augment.kind, config.augment.policy = "diffaugment", "color,blur"
    with pytest.raises(ConfigError, match="blur"):
        validate(config)


# ---------------------------------------------------------------------------------------------
# ADA's pipeline (gan_jax.augment.ada, augment_geometry, augment_filter)


def _smooth_images(b=4, size=32, c=3, seed=0):
    """Band-limited images (bicubic up-sampling of 4x4 noise): resampling errors of the
    geometric path scale with image detail, so its tolerances are stated for these."""
    coarse = jax.random.uniform(jax.random.key(seed), (b, 4, 4, c), minval=-1.0, maxval=1.0)
    return jax.image.resize(coarse, (b, size, size, c), "cubic")


def _replay(ops, c, **values):
    """Draws for ``ops`` on a batch of one: every op fires (its '.apply' draw is 0 < p) with
    the given value draws (zero for the others)."""
    d = {name: jnp.zeros((1, 2) if size == "pair" else (1,)) for name, _, size in ada.draw_plan(ops, c)}
    for name, v in values.items():
        d[name] = jnp.asarray(v, jnp.float32).reshape(d[name].shape)
    return d


def test_identity_through_the_geometric_path_reproduces_the_input():
    """sym6 is orthogonal, so 2x up-sampling, sampling on the up-sampled grid and 2x
    down-sampling cancel: the identity matrix returns the input to float32 rounding (< 1e-5;
    measured 3e-7), for noise images with all their detail."""
    x = _images(3, 16, 3)
    out = jax.jit(geo.warp)(x, jnp.broadcast_to(jnp.eye(3), (3, 3, 3)))
    np.testing.assert_allclose(out, x, atol=1e-5)


def test_resampling_matrices_equal_upfirdn2d():
    """The geometric path up- and down-samples by matrix products; they are the same linear
    maps as `gan_jax.ops.upfirdn2d` with NVlabs' paddings (to float32 rounding)."""
    from gan_jax.ops import upfirdn2d

    x = _images(2, 12, 3)
    up = upfirdn2d.upsample2d(x, geo.FILTER, up=2)
    m_up = geo.fir_matrix(12, up=2, pad0=6, pad1=5, gain=4.0)
    np.testing.assert_allclose(jnp.einsum("vh,uw,bhwc->bvuc", m_up, m_up, x), up, atol=1e-6)
    down = upfirdn2d.downsample2d(up, geo.FILTER, down=2, padding=-2, flip_filter=True)
    m_down = geo.fir_matrix(24, down=2, pad0=3, pad1=3, flip_filter=True)
    np.testing.assert_allclose(jnp.einsum("vh,uw,bhwc->bvuc", m_down, m_down, up), down, atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotate90_through_the_geometric_path_matches_rot90(k):
    """A rotation by k·90° samples the up-sampled image on its own grid, but sym6 is not
    symmetric, so the rotated up-sampling is not the up-sampled rotation: the round trip
    acts as a mild filter (NVlabs' pipe does the same; see the parity test). On smooth
    32 px images the error is below 0.05 (measured 0.03) and 0.012 on average (0.006-0.009)."""
    x = _smooth_images()
    out = jax.jit(geo.warp)(x, geo.rotate2d(jnp.full((4,), np.pi / 2 * k)))
    err = np.abs(np.asarray(out) - np.asarray(jnp.rot90(x, k, axes=(1, 2))))
    assert err.max() < 0.05 and err.mean() < 0.012
    # ... and the pipeline's rotate90 draw i = ⌊4u⌋ gives the same matrix
    d = _replay(("rotate90",), 3, rotate90=(k + 0.5) / 4)
    np.testing.assert_allclose(
        ada.geometric_matrix(d, jnp.float32(1), ("rotate90",), 32, 32)[0],
        geo.rotate2d(jnp.full((1,), np.pi / 2 * k))[0],
        atol=1e-6,
    )


def test_fractional_translation_by_whole_pixels_matches_integer_translation():
    """xfrac t = 0.125·n of the size: n = (1, −0.5) on 16 px moves the image by (dx, dy) =
    (2, −1); inside a 2-pixel border (where ADA reflects and `translate` zero-fills) the
    two agree to rounding (< 1e-5)."""
    x = _images(1, 16, 3)
    d = _replay(("xfrac",), 3, xfrac=[1.0, -0.5])
    out = jax.jit(ada.augment_with, static_argnums=3)(x, d, jnp.float32(1.0), ("xfrac",))
    expected = augment.translate(x, jnp.array([[-1, 2]]), 2)
    np.testing.assert_allclose(out[:, 2:-2, 2:-2], expected[:, 2:-2, 2:-2], atol=1e-5)


def test_colour_matrix_ops_by_hand():
    x = _images(1, 4, 3)
    m = jnp.mean(x, axis=3, keepdims=True)
    p = jnp.float32(1.0)

    def colour(op, c=3, image=x, **values):
        return ada.apply_colour(image, ada.colour_matrix(_replay((op,), c, **values), p, (op,), c))

    np.testing.assert_allclose(colour("brightness", brightness=1.5), x + 0.3, atol=1e-6)  # 0.2·n
    np.testing.assert_allclose(colour("contrast", contrast=2.0), 2.0 * x, atol=1e-6)  # 2^(0.5 n)
    np.testing.assert_allclose(colour("saturation", saturation=1.0), m + 2.0 * (x - m), atol=1e-6)
    np.testing.assert_allclose(
        colour("saturation", saturation=-30.0), jnp.broadcast_to(m, x.shape), atol=1e-6
    )
    np.testing.assert_allclose(colour("lumaflip", lumaflip=0.75), x - 2 * m, atol=1e-6)  # ⌊2u⌋ = 1
    np.testing.assert_allclose(colour("lumaflip", lumaflip=0.25), x, atol=1e-7)  # ⌊2u⌋ = 0
    # hue: a rotation about the grey axis; θ = π(2u − 1) = 2π/3 cycles (r, g, b) → (b, r, g)
    np.testing.assert_allclose(colour("hue", hue=5 / 6), x[..., [2, 0, 1]], atol=1e-6)
    grey = jnp.broadcast_to(m, x.shape)
    np.testing.assert_allclose(colour("hue", image=grey, hue=0.3), grey, atol=1e-6)
    # 1 channel: the mean RGB row; luma flip negates, brightness and contrast act as on RGB
    g = x[..., :1]
    np.testing.assert_allclose(colour("lumaflip", 1, g, lumaflip=0.75), -g, atol=1e-6)
    np.testing.assert_allclose(colour("brightness", 1, g, brightness=-1.0), g - 0.2, atol=1e-6)
    assert [n for n, _, _ in ada.draw_plan(ada.COLOR, 1)] == [
        "brightness",
        "brightness.apply",
        "contrast",
        "contrast.apply",
        "lumaflip",
        "lumaflip.apply",
    ]  # hue and saturation draw nothing for grey images, as in NVlabs


def test_filter_bank_splits_the_impulse_and_unit_gains_are_the_identity():
    bank = augment_filter.BANK
    impulse = np.zeros(bank.shape[1])
    impulse[bank.shape[1] // 2] = 1.0
    np.testing.assert_allclose(bank.sum(axis=0), impulse, atol=1e-6)
    np.testing.assert_allclose(bank, bank[:, ::-1], atol=1e-7)  # symmetric: zero phase
    gains = augment_filter.band_gains(jnp.ones((2, 4)), jnp.zeros((2, 4), bool))
    np.testing.assert_allclose(gains, 1.0)
    x = _images(2, 24, 3)
    np.testing.assert_allclose(augment_filter.apply_filter(x, gains), x, atol=1e-5)


def test_nvlabs_cutout_zeroes_the_pixels_within_a_quarter_of_the_centre():
    x = jnp.ones((2, 16, 16, 1))
    out = ada.cutout(x, jnp.array([True, False]), jnp.array([[0.5, 0.25], [0.5, 0.5]]))
    hole = np.ones((16, 16))
    hole[0:8, 4:12] = 0.0  # rows: |(r + ½)/16 − 0.25| < 0.25; columns around 0.5
    np.testing.assert_array_equal(out[0, ..., 0], hole)
    np.testing.assert_array_equal(out[1], x[1])


@pytest.mark.parametrize("pipeline", ["bgc", "bgcfnc"])
def test_ada_is_identity_at_p0_in_value_and_gradient_and_changes_every_image_at_p1(pipeline):
    x = _images(8, 24)
    v = jax.random.normal(jax.random.key(9), x.shape)

    @jax.jit
    def f(t, p):
        return augment.ada_augment(t, jax.random.key(0), p, pipeline)

    np.testing.assert_array_equal(f(x, jnp.float32(0.0)), x)
    grad = jax.grad(lambda t: jnp.sum(f(t, jnp.float32(0.0)) * v))(x)
    np.testing.assert_array_equal(grad, v)
    out = np.asarray(f(x, jnp.float32(1.0)))
    assert all(np.abs(o - i).max() > 0.05 for o, i in zip(out, np.asarray(x)))
    np.testing.assert_array_equal(out, f(x, jnp.float32(1.0)))  # same key, same images


def test_ada_fires_each_op_with_probability_p():
    """On 20k images at p = 0.3: brightness fires with p; x-flip, which flips a fired image
    half the time, with p/2; the two rotations, each firing with 1 − √(1 − p), together
    with p; a 90° rotation is non-trivial with 3p/4."""
    b, p = 20000, jnp.float32(0.3)
    ops = ada.PIPELINES["bgc"]
    d = ada.draw(jax.random.key(4), ops, (b, 8, 8, 3))
    only = lambda op: ada.geometric_matrix(d, p, (op,), 8, 8)  # noqa: E731
    flipped = np.asarray(only("xflip")[:, 0, 0] < 0)
    rotated = np.asarray(np.abs(only("rotate")[:, 0, 1]) > 0)
    turned = np.asarray(np.abs(only("rotate90") - jnp.eye(3)).max(axis=(1, 2)) > 1e-3)
    bright = np.asarray(ada.colour_matrix(d, p, ("brightness",), 3)[:, 0, 3] != 0)
    tol = 4 * np.sqrt(0.25 / b)
    assert abs(bright.mean() - 0.3) < tol and abs(flipped.mean() - 0.15) < tol
    assert abs(rotated.mean() - 0.3) < tol and abs(turned.mean() - 0.225) < tol
    # the ops draw independently: P(flip and bright) = P(flip) P(bright)
    assert abs((flipped & bright).mean() - 0.15 * 0.3) < tol


def test_r3gan_pipeline_fires_colour_ops_at_half_p_and_the_rest_at_p():
    """'bgcc' (R3GAN's): on 20k constant grey images at p = 0.6, a brightness-only pipeline
    moves the mean of ~p/2 of them; the geometric ops and cutout keep probability p."""
    b, p = 20000, jnp.float32(0.6)
    x = jnp.full((b, 4, 4, 1), 0.25)
    d = ada.draw(jax.random.key(5), ada.PIPELINES["bgcc"], x.shape)
    changed = lambda pipeline_ops, mult: np.asarray(  # noqa: E731
        jnp.abs(ada.augment_with(x, d, p, pipeline_ops, mult) - x).max(axis=(1, 2, 3)) > 1e-6
    )
    tol = 4 * np.sqrt(0.25 / b)
    mult = ada.COLOUR_MULTIPLIER["bgcc"]
    assert mult == 0.5 and ada.COLOUR_MULTIPLIER.get("bgc", 1.0) == 1.0
    assert abs(changed(("brightness",), mult).mean() - 0.3) < tol
    assert abs(changed(("brightness",), 1.0).mean() - 0.6) < tol
    assert abs(changed(("cutout",), mult).mean() - 0.6) < tol
    # the pipeline itself applies the multiplier: same draws, same result
    key = jax.random.key(6)
    y = jax.random.uniform(jax.random.key(7), (8, 8, 8, 3), minval=-1, maxval=1)
    dy = ada.draw(key, ada.PIPELINES["bgcc"], y.shape)
    np.testing.assert_allclose(
        ada.ada_pipeline(y, key, p, "bgcc"), ada.augment_with(y, dy, p, ada.PIPELINES["bgcc"], 0.5), atol=1e-5
    )
    assert (
        np.abs(
            ada.ada_pipeline(y, key, p, "bgcc") - ada.augment_with(y, dy, p, ada.PIPELINES["bgcc"], 1.0)
        ).max()
        > 0.01
    )


def test_config_selects_the_ada_pipeline_and_rejects_unknown_ones():
    from gan_jax.config import validate
    from gan_jax.errors import ConfigError

    config = base_config()
    assert config.augment.ada_pipeline == "bgc"
    config.augment.update(kind="ada", ada_pipeline="color")
    x = _images(2, 8, 1)
    out = augment.make_augment(config)(x, jax.random.key(0), jnp.float32(1.0))
    # colour only: an affine map of each grey image, no resampling
    for o, i in zip(np.asarray(out), np.asarray(x)):
        a, c = np.polyfit(i.ravel(), o.ravel(), 1)
        np.testing.assert_allclose(o, a * i + c, atol=1e-5)
    config.augment.ada_pipeline = "bgcx"
    with pytest.raises(ConfigError, match="ada_pipeline='bgcx'.*bgcfnc"):
        validate(config)


# ---------------------------------------------------------------------------------------------
# NVlabs parity: the same draws through NVlabs' AugmentPipe and augment_ada.augment_with

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# (ops, p, size, channels): each geometric op alone, then whole presets
_PARITY_CASES = [((op,), 0.6, 16, 3) for op in ada.BLIT + ada.GEOM] + [
    (ada.PIPELINES["color"], 0.6, 16, 3),
    (ada.PIPELINES["bgc"], 0.6, 16, 1),
    (ada.PIPELINES["bgc"], 0.2, 16, 3),
    (ada.PIPELINES["bgcfnc"], 0.8, 24, 3),
]


@pytest.fixture(scope="module")
def nvlabs_export(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ada") / "peer.npz")
    cases = [f"{','.join(ops)}:{p}:{size}:{c}" for ops, p, size, c in _PARITY_CASES]
    subprocess.run(
        [
            peer_env.TORCH_PYTHON,
            os.path.join(_REPO, "benchmarks", "peers", "ada_export.py"),
            "--checkout",
            peer_env.CHECKOUTS["nvlabs"],
            "--out",
            out,
            "--batch",
            "6",
        ]
        + [a for case in cases for a in ("--case", case)],
        check=True,
    )
    with np.load(out, allow_pickle=False) as z:
        return dict(z)


@pytest.mark.skipif(
    bool(peer_env.missing("nvlabs")), reason=f"NVlabs peer absent: {peer_env.missing('nvlabs')}"
)
@pytest.mark.parametrize("case", range(len(_PARITY_CASES)))
def test_matches_nvlabs_augment_pipe_on_the_same_draws(nvlabs_export, case):
    """Replaying NVlabs' random draws, outputs agree to 1e-4 (max abs; measured ≤ 3e-5, from
    float32 rounding of the sampling positions), and the filter banks to 1e-7."""
    ops, p, _, c = _PARITY_CASES[case]
    z = {k.split(".", 1)[1]: v for k, v in nvlabs_export.items() if k.startswith(f"case{case}.")}
    plan = ada.draw_plan(ops, c)
    assert [kind for _, kind, _ in plan] == list(z["draw_kinds"])
    b = z["in.img"].shape[0]
    d = {}
    for k, (name, _, size) in enumerate(plan):
        value = z[f"draw.{k}"]
        d[name] = jnp.asarray(
            value.transpose(0, 2, 3, 1)
            if size == "pixels"
            else value.reshape(b, 2)
            if size == "pair"
            else value.reshape(b)
        )
    x = jnp.asarray(z["in.img"].transpose(0, 2, 3, 1))
    out = jax.jit(ada.augment_with, static_argnums=3)(x, d, jnp.float32(p), ops)
    out = np.asarray(out).transpose(0, 3, 1, 2)
    assert np.abs(z["out.img"] - z["in.img"]).max() > 0.1  # the case augments something
    np.testing.assert_allclose(out, z["out.img"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(augment_filter.BANK, nvlabs_export["bank"], atol=1e-7)
