"""DiffAugment and ADA: values against numpy references, determinism, gradients, p's controller."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment
from gan_jax import train_step as ts
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
    fn = (lambda t, k: augment.diff_augment(t, k)) if kind == "diffaugment" else (
        lambda t, k: augment.ada_augment(t, k, jnp.float32(0.8)))
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


def test_ada_is_identity_at_p0_and_changes_every_image_at_p1():
    x = _images(32)
    np.testing.assert_array_equal(augment.ada_augment(x, jax.random.key(0), jnp.float32(0.0)), x)
    out = augment.ada_augment(x, jax.random.key(0), jnp.float32(1.0))
    assert all(not np.allclose(o, i) for o, i in zip(out, x))


def test_ada_applies_each_op_independently_with_probability_p():
    """An image leaves the pipeline unchanged only if no op fired (or the translation drew
    (0, 0), 1 in 9 at s = 1): P = (1 − p)⁶ · (1 − p·8/9) for the 7 ops on 4x4 RGB images."""
    x = _images(4000, 4, 3)
    p = 0.3
    out = augment.ada_augment(x, jax.random.key(3), jnp.float32(p))
    unchanged = np.mean([np.array_equal(o, i) for o, i in zip(np.asarray(out), np.asarray(x))])
    assert unchanged == pytest.approx((1 - p) ** 6 * (1 - p * 8 / 9), abs=0.02)


def test_diffaugment_policy_subsets():
    x = _images()
    only_colour = augment.diff_augment(x, jax.random.key(0), ("color",))
    # colour ops are affine per image: no pixel is zeroed or moved, so rank order per image holds
    for o, i in zip(np.asarray(only_colour)[..., 0], np.asarray(x)[..., 0]):
        assert np.corrcoef(o.ravel(), i.ravel())[0, 1] > 0.5
    np.testing.assert_array_equal(augment.diff_augment(x, jax.random.key(0), ()), x)


def test_ada_adjust_moves_p_up_when_d_overfits_and_down_otherwise():
    p = jnp.float32(0.5)
    # r_t = 0.9 > 0.6: D is sure about real images; 64 images at kimg=1 move p by 0.064
    up = augment.ada_adjust(p, jnp.float32(0.9 * 64), jnp.float32(64), 0.6, 1.0)
    down = augment.ada_adjust(p, jnp.float32(0.1 * 64), jnp.float32(64), 0.6, 1.0)
    assert float(up) == pytest.approx(0.564) and float(down) == pytest.approx(0.436)
    assert float(augment.ada_adjust(jnp.float32(0.0), jnp.float32(-64), jnp.float32(64), 0.6, 1.0)) == 0.0
    assert float(augment.ada_adjust(p, jnp.float32(0), jnp.float32(0), 0.6, 1.0)) == 0.5  # nothing seen


def test_ada_p_follows_the_sign_of_d_real_inside_the_step(tiny_config):
    """Train tiny runs with ADA adjusting every step: p rises with a target D(real) easily
    exceeds (−1: every positive score counts as over-fitting) and falls with one it cannot
    reach (1)."""
    from gan_jax import data, datasets, parallel
    from gan_jax.models import build_models
    from gan_jax.state import create_state, make_optimizer

    results = {}
    for target in (-1.0, 1.0):
        config = tiny_config.copy_and_resolve_references()
        config.augment.update(kind="ada", ada_p=0.5, ada_target=target, ada_interval=1, ada_kimg=0.1)
        mesh = parallel.create_mesh()
        g, d = build_models(config)
        txs = make_optimizer(config.optimizer.g), make_optimizer(config.optimizer.d)
        state = create_state(config, g, d, *txs, mesh, ts.root_keys(0)["init"])
        step = ts.compile_train_step(ts.make_train_step(config, g, d, *txs), mesh)
        dataset = datasets.load_dataset(config.dataset)
        ps = []
        for batch in data.batches(dataset, config, mesh, 0, 3):
            state, metrics = step(state, batch, ts.root_keys(0)["train"])
            ps.append(float(state.scalars["ada_p"]))
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
