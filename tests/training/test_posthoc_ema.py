"""EDM2's post-hoc EMA (`gan_jax.training.posthoc_ema`): the width ↔ exponent map, the
closed-form inner products against numerical integration, the update against the
explicit weights, and the reconstruction against the exact average of a trajectory."""

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.training import posthoc_ema as ph


def test_width_and_exponent_are_inverse_and_match_edm2():
    gammas = ph.sigma_to_gamma([0.05, 0.10])
    np.testing.assert_allclose(gammas, [16.97, 6.94], atol=0.01)  # EDM2's table: γ ≈ 16.97 and 6.94
    np.testing.assert_allclose(ph.gamma_to_sigma(gammas), [0.05, 0.10], rtol=1e-12)
    assert ph.SIGMA_MAX == pytest.approx(1 / np.sqrt(12))


@pytest.mark.parametrize(
    "t_a, s_a, t_b, s_b", [(100, 0.05, 100, 0.10), (40, 0.10, 100, 0.05), (100, 0.2, 30, 0.07)]
)
def test_inner_products_equal_numerical_integrals(t_a, s_a, t_b, s_b):
    g_a, g_b = ph.sigma_to_gamma(s_a), ph.sigma_to_gamma(s_b)
    tau = np.linspace(0, min(t_a, t_b), 200_001)
    p = lambda t, g: (g + 1) * tau**g / t ** (g + 1)  # noqa: E731
    numeric = np.trapezoid(p(t_a, g_a) * p(t_b, g_b), tau)
    assert ph.profile_inner(t_a, g_a, t_b, g_b) == pytest.approx(numeric, rel=1e-6)


def test_the_update_is_the_power_weighted_average():
    """After T steps the average is Σ_τ w_τ θ_τ with w_τ = (1 − β_τ) Π_{s>τ} β_s: close to
    the power profile, exactly a convex combination that starts as a copy."""
    rng = np.random.default_rng(0)
    steps, sigma = 300, 0.1
    thetas = rng.normal(size=(steps, 5)).astype(np.float64)
    averages = {ph.key(sigma): jnp.zeros(5)}
    betas = []
    for t in range(steps):
        averages = ph.update(averages, jnp.asarray(thetas[t]), jnp.asarray(t), (sigma,))
        betas.append((t / (t + 1)) ** (ph.sigma_to_gamma(sigma) + 1))
    weights = np.array([(1 - betas[t]) * np.prod(betas[t + 1 :]) for t in range(steps)])
    assert weights.sum() == pytest.approx(1.0) and betas[0] == 0.0
    np.testing.assert_allclose(averages[ph.key(sigma)], weights @ thetas, rtol=2e-5, atol=2e-6)


def _trajectory(steps=4000, dim=64, seed=0):
    rng = np.random.default_rng(seed)
    drift = np.linspace(0, 1, steps)[:, None] * rng.normal(size=dim)
    return np.cumsum(rng.normal(size=(steps, dim)), 0) * 0.01 + drift


def _averages(trajectory, sigma, every):
    average, snapshots = {ph.key(sigma): jnp.asarray(trajectory[0], jnp.float32)}, []
    for t, theta in enumerate(trajectory):
        average = ph.update(average, jnp.asarray(theta, jnp.float32), jnp.asarray(t), (sigma,))
        if (t + 1) % every == 0:
            snapshots.append((t + 1, sigma, np.asarray(average[ph.key(sigma)], np.float64)))
    return snapshots


def test_reconstruction_equals_the_exact_average_of_a_trajectory():
    """Snapshots of σ_rel 0.05 and 0.10 every 400 of 4000 steps rebuild σ_rel 0.07 (never
    tracked) at the end: the error is a small fraction of the distance to either tracked one."""
    trajectory = _trajectory()
    snapshots = _averages(trajectory, 0.05, 400) + _averages(trajectory, 0.10, 400)
    exact = _averages(trajectory, 0.07, 4000)[-1][2]
    steps, sigmas, trees = zip(*snapshots)
    rebuilt = ph.combine(list(trees), ph.coefficients(steps, sigmas, 4000, 0.07))
    error = np.linalg.norm(rebuilt - exact)
    nearest = min(np.linalg.norm(snapshots[i][2] - exact) for i in (9, 19))  # the two tracked at 4000
    assert error / np.linalg.norm(exact) < 1e-3
    assert error < 0.03 * nearest
    # A tracked width at a snapshot's step is rebuilt as that snapshot.
    x = ph.coefficients(steps, sigmas, 4000, 0.10)
    np.testing.assert_allclose(x, np.eye(len(x))[19], atol=1e-9)
