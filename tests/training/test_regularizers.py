"""Weight penalties by hand, and the difference between an L2 penalty and AdamW."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax.training import regularizers
from gan_jax.config import base_config
from gan_jax.training.state import make_optimizer

PARAMS = {
    "conv": {"kernel": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "bias": jnp.array([10.0, -10.0])},
    "bn": {"scale": jnp.array([5.0]), "bias": jnp.array([1.0])},
    "embed": {"embedding": jnp.array([-1.0, 1.0])},
}


def test_mask_selects_kernels_and_embeddings_only():
    mask = regularizers.decay_mask(PARAMS)
    assert mask == {
        "conv": {"kernel": True, "bias": False},
        "bn": {"scale": False, "bias": False},
        "embed": {"embedding": True},
    }


def test_l1_and_l2_values():
    # kernels+embeddings: |1|+|-2|+|3|+|0.5| + 1 + 1 = 8.5 ; squares: 1+4+9+0.25+1+1 = 16.25
    assert float(regularizers.l1_penalty(PARAMS)) == pytest.approx(8.5)
    assert float(regularizers.l2_penalty(PARAMS)) == pytest.approx(0.5 * 16.25)
    assert float(regularizers.weight_penalty(PARAMS, 0.1, 0.01)) == pytest.approx(0.85 + 0.01 * 8.125)
    assert float(regularizers.weight_penalty(PARAMS, 0.0, 0.0)) == 0.0


def test_l2_gradient_is_lambda_w():
    grads = jax.grad(lambda p: regularizers.weight_penalty(p, 0.0, 0.3))(PARAMS)
    np.testing.assert_allclose(grads["conv"]["kernel"], 0.3 * PARAMS["conv"]["kernel"])
    np.testing.assert_allclose(grads["conv"]["bias"], 0.0)


def _opt(**kw) -> ml_collections.ConfigDict:
    opt = base_config().optimizer.g
    opt.update(kw)
    return opt


def test_decoupled_weight_decay_is_applied_outside_adam():
    """With zero loss gradient, AdamW moves w by exactly -lr*wd*w; biases stay put."""
    tx = make_optimizer(_opt(learning_rate=0.1, weight_decay=0.5))
    zero = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = tx.update(zero, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.1 * 0.5 * PARAMS["conv"]["kernel"], rtol=1e-6)
    np.testing.assert_allclose(updates["conv"]["bias"], 0.0)


def test_l2_penalty_through_adam_is_normalised_not_decay():
    """The explicit penalty's gradient λw goes through Adam: the first step is -lr*sign(w)."""
    tx = make_optimizer(_opt(learning_rate=0.1))
    grads = jax.grad(lambda p: regularizers.weight_penalty(p, 0.0, 0.5))(PARAMS)
    updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.1 * np.sign(PARAMS["conv"]["kernel"]), rtol=1e-4)


def _finite_difference_gradients(f, x, h=1e-3):
    """Central differences of f (scalar per sample) w.r.t. each input coordinate, float64."""
    x = np.asarray(x, np.float64)
    grads = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += h
        minus[idx] -= h
        grads[idx] = (f(plus)[idx[0]] - f(minus)[idx[0]]) / (2 * h)
    return grads


def _critic():
    """A small non-linear per-sample critic D(x) = Σ tanh(W x + b)·v."""
    rng = np.random.default_rng(0)
    w, b, v = rng.normal(size=(6, 5)), rng.normal(size=5), rng.normal(size=5)
    jax_fn = lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ w + b) @ v  # noqa: E731
    np_fn = lambda x: np.tanh(x.reshape(x.shape[0], -1) @ w + b) @ v  # noqa: E731
    return jax_fn, np_fn


def test_r1_against_finite_differences():
    jax.config.update("jax_enable_x64", True)
    try:
        d_fn, np_fn = _critic()
        x = np.random.default_rng(1).normal(size=(4, 2, 3))
        grads = _finite_difference_gradients(np_fn, x)
        want = np.mean(np.sum(grads.reshape(4, -1) ** 2, axis=1))
        assert float(regularizers.r1_penalty(d_fn, jnp.asarray(x))) == pytest.approx(want, rel=1e-6)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_gradient_penalty_against_finite_differences():
    jax.config.update("jax_enable_x64", True)
    try:
        d_fn, np_fn = _critic()
        rng = np.random.default_rng(2)
        real, fake = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2, 3))
        key = jax.random.key(3)
        eps = np.asarray(jax.random.uniform(key, (4, 1, 1), jnp.float64))
        x_hat = eps * real + (1 - eps) * fake
        norms = np.linalg.norm(_finite_difference_gradients(np_fn, x_hat).reshape(4, -1), axis=1)
        got = float(regularizers.gradient_penalty(d_fn, jnp.asarray(real), jnp.asarray(fake), key))
        assert got == pytest.approx(np.mean((norms - 1) ** 2), rel=1e-6)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_r2_against_finite_differences_and_constant_in_g():
    jax.config.update("jax_enable_x64", True)
    try:
        d_fn, np_fn = _critic()
        x = np.random.default_rng(4).normal(size=(4, 2, 3))
        grads = _finite_difference_gradients(np_fn, x)
        want = np.mean(np.sum(grads.reshape(4, -1) ** 2, axis=1))
        assert float(regularizers.r2_penalty(d_fn, jnp.asarray(x))) == pytest.approx(want, rel=1e-6)
        # the generated images are constants: R2 sends no gradient into G
        g_grad = jax.grad(lambda s: regularizers.r2_penalty(d_fn, s * jnp.asarray(x)))(1.0)
        assert float(g_grad) == 0.0
    finally:
        jax.config.update("jax_enable_x64", False)


def _synthesis(theta):
    """A small non-linear 'synthesis' ws (B, 3, 4) → images (B, 2, 2, 1), parameters theta."""
    a, b = theta[:12].reshape(3, 4, 1), theta[12:16].reshape(4)

    def fn(ws):
        h = jnp.tanh(jnp.einsum("bnw,nwo->bw", ws, a) * b)  # (B, 4)
        return h.reshape(ws.shape[0], 2, 2, 1)

    return fn


def test_path_length_lengths_penalty_and_gradient_against_brute_force():
    """ℓᵢ from the full Jacobian, the penalty from ℓ and the running mean, and its gradient
    with respect to the synthesis parameters by central differences, all in float64."""
    jax.config.update("jax_enable_x64", True)
    try:
        rng = np.random.default_rng(5)
        theta = jnp.asarray(rng.normal(size=16))
        ws = jnp.asarray(rng.normal(size=(3, 3, 4)))
        key, mean = jax.random.key(6), jnp.asarray(0.7)
        penalty, lengths, new_mean = regularizers.path_length(_synthesis(theta), ws, key, mean, 0.01)
        y = np.asarray(jax.random.normal(key, (3, 2, 2, 1), jnp.float64)) / 2.0  # / √(H·W)
        jac = np.asarray(jax.jacobian(_synthesis(theta))(ws))  # (B, 2, 2, 1, B, 3, 4)
        want = []
        for i in range(3):
            jty = np.einsum("hwc,hwcnk->nk", y[i], jac[i, :, :, :, i])
            want.append(np.sqrt(np.mean(np.sum(jty**2, axis=1))))
        want = np.asarray(want)
        np.testing.assert_allclose(np.asarray(lengths), want, rtol=1e-10)
        a = 0.7 + 0.01 * (want.mean() - 0.7)
        assert float(new_mean) == pytest.approx(a, rel=1e-12)
        assert float(penalty) == pytest.approx(np.mean((want - a) ** 2), rel=1e-10)

        def loss(t):
            return regularizers.path_length(_synthesis(t), ws, key, mean, 0.01)[0]

        grad = np.asarray(jax.grad(loss)(theta))
        h = 1e-5
        fd = np.array(
            [
                (float(loss(theta.at[j].add(h))) - float(loss(theta.at[j].add(-h)))) / (2 * h)
                for j in range(16)
            ]
        )
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-9)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_penalties_vanish_for_the_right_critics():
    x = jnp.ones((3, 2, 2))
    assert float(regularizers.r1_penalty(lambda v: jnp.zeros(v.shape[0]), x)) == 0.0
    # D(x) = x·u with ‖u‖ = 1 is exactly 1-Lipschitz everywhere: zero gradient penalty.
    u = jnp.ones(4) / 2.0
    lipschitz = lambda v: v.reshape(v.shape[0], -1) @ u  # noqa: E731
    gp = regularizers.gradient_penalty(lipschitz, x, -x, jax.random.key(0))
    assert float(gp) == pytest.approx(0.0, abs=1e-10)


def test_lecam_by_hand():
    real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5, -3.0])
    # α_R = 1, α_F = 0: real term mean(relu([2, -1])²) = 2; fake term mean(relu([0.5, 4])²) = (0.25+16)/2
    value = regularizers.lecam_penalty(real, fake, ema_real=1.0, ema_fake=0.0)
    assert float(value) == pytest.approx(2.0 + 8.125)
    assert float(regularizers.lecam_penalty(real, fake, ema_real=-5.0, ema_fake=5.0)) == 0.0
    assert float(regularizers.update_score_ema(jnp.float32(1.0), real, 0.99)) == pytest.approx(
        0.99 + 0.01 * 0.5
    )
