"""Fréchet distance against closed forms and a brute-force eigen-decomposition."""

import numpy as np
import pytest

from gan_jax.metrics import fid


def test_diagonal_gaussians_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    want = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert fid.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(want, rel=1e-10)


def test_general_covariances_against_symmetric_form():
    """Tr((Σ₁Σ₂)^½) = Tr((Σ₁^½ Σ₂ Σ₁^½)^½), computed here with eigendecompositions."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)

    def sqrt_psd(m):
        w, v = np.linalg.eigh(m)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    r1 = sqrt_psd(s1)
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(sqrt_psd(r1 @ s2 @ r1))
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-8)


def test_identical_sets_give_zero_and_shift_gives_squared_norm():
    x = np.random.default_rng(1).normal(size=(500, 4))
    assert fid.frechet_distance_of_features(x, x) == pytest.approx(0.0, abs=1e-8)
    assert fid.frechet_distance_of_features(x, x + 3.0) == pytest.approx(4 * 9.0, rel=1e-8)


def test_stats_are_float64_unbiased():
    x = np.random.default_rng(2).normal(size=(10, 3)).astype(np.float32)
    mu, sigma = fid.gaussian_stats(x)
    x64 = x.astype(np.float64)
    assert mu.dtype == np.float64
    np.testing.assert_allclose(sigma, (x64 - x64.mean(0)).T @ (x64 - x64.mean(0)) / 9, rtol=1e-12)


def test_singular_covariances_use_the_eps_retry():
    """Fewer samples than dimensions: Σ is singular, and the result is still finite and ≥ 0."""
    rng = np.random.default_rng(3)
    d = fid.frechet_distance_of_features(rng.normal(size=(5, 20)), rng.normal(size=(5, 20)))
    assert np.isfinite(d) and d > 0


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="mismatched"):
        fid.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
