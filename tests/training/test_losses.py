"""Every loss against values computed by hand from its equation."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.training import losses

REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])


def softplus(t):
    return math.log1p(math.exp(t))


def test_d_cross_entropy_matches_log_sigmoid_form():
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    want = (
        -(math.log(sig(2.0)) + math.log(sig(-1.0))) / 2
        - (math.log(1 - sig(0.5)) + math.log(1 - sig(-3.0))) / 2
    )
    assert float(losses.d_cross_entropy(REAL, FAKE)) == pytest.approx(want, rel=1e-6)


def test_g_non_saturating_and_minimax():
    ns = (softplus(-0.5) + softplus(3.0)) / 2
    mm = -(softplus(0.5) + softplus(-3.0)) / 2
    assert float(losses.g_non_saturating(FAKE)) == pytest.approx(ns, rel=1e-6)
    assert float(losses.g_minimax(FAKE)) == pytest.approx(mm, rel=1e-6)


def test_cross_entropy_is_finite_for_huge_logits():
    big = jnp.array([1e4, -1e4])
    assert np.isfinite(float(losses.d_cross_entropy(big, -big)))
    assert float(losses.d_cross_entropy(jnp.array([1e4]), jnp.array([-1e4]))) == pytest.approx(0.0, abs=1e-6)


def test_least_squares():
    # D: 0.5*mean((r-1)^2) + 0.5*mean(f^2) = 0.5*(1+4)/2 + 0.5*(0.25+9)/2
    assert float(losses.d_least_squares(REAL, FAKE)) == pytest.approx(0.5 * 2.5 + 0.5 * 4.625)
    # G: 0.5*mean((f-1)^2) = 0.5*(0.25+16)/2
    assert float(losses.g_least_squares(FAKE)) == pytest.approx(0.5 * 8.125)


def test_hinge():
    # D: mean(relu(1-r)) + mean(relu(1+f)) = (0+2)/2 + (1.5+0)/2
    assert float(losses.d_hinge(REAL, FAKE)) == pytest.approx(1.0 + 0.75)
    assert float(losses.g_hinge(FAKE)) == pytest.approx(1.25)


def test_wasserstein():
    assert float(losses.d_wasserstein(REAL, FAKE)) == pytest.approx(-1.25 - 0.5)
    assert float(losses.g_wasserstein(FAKE)) == pytest.approx(1.25)


def test_relativistic_pairs_by_position():
    # pairs (2.0, 0.5) and (-1.0, -3.0): D sees r - f = 1.5, 2.0; G sees f - r = -1.5, -2.0
    d = float(losses.d_relativistic(REAL, FAKE))
    g = float(losses.g_relativistic(FAKE, REAL))
    assert d == pytest.approx((softplus(-1.5) + softplus(-2.0)) / 2, rel=1e-6)
    assert g == pytest.approx((softplus(1.5) + softplus(2.0)) / 2, rel=1e-6)
    # Pairing, not all-pairs: swapping the fakes changes the loss.
    assert float(losses.d_relativistic(REAL, FAKE[::-1])) != pytest.approx(d)


def test_relativistic_gradient_signs():
    """D's loss falls as D(real) rises or D(fake) falls; G's falls as D(fake) rises:
    ∂L_D/∂r_i = -σ(-(r_i - f_i))/n < 0, ∂L_D/∂f_i = +σ(-(r_i - f_i))/n, ∂L_G/∂f_i < 0."""
    import jax

    dr, df = jax.grad(losses.d_relativistic, argnums=(0, 1))(REAL, FAKE)
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    np.testing.assert_allclose(dr, [-sig(-1.5) / 2, -sig(-2.0) / 2], rtol=1e-6)
    np.testing.assert_allclose(df, -np.asarray(dr), rtol=1e-6)
    gf = jax.grad(losses.g_relativistic)(FAKE, REAL)
    np.testing.assert_allclose(gf, [-sig(1.5) / 2, -sig(2.0) / 2], rtol=1e-6)


def test_registries_cover_the_same_names():
    assert (
        set(losses.D_LOSSES)
        == set(losses.G_LOSSES)
        == {"non_saturating", "minimax", "least_squares", "hinge", "wasserstein", "relativistic"}
    )
    assert losses.PAIRED_G_LOSSES <= set(losses.G_LOSSES)
