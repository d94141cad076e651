"""Post-hoc EMA (Karras et al. 2024, "Analyzing and Improving the Training Dynamics of
Diffusion Models", section 3): average with power-function profiles while training,
choose the averaging length afterwards.

**Profiles.** A power-function EMA with exponent γ > 0, read at step t, weighs the
parameters of step τ ≤ t by

    p_{t,γ}(τ) = (γ + 1) τ^γ / t^(γ+1)                    (integrates to 1 over [0, t]),

so it forgets the start of training at any length of run. Its width relative to t is

    σ_rel = sqrt((γ + 1) / ((γ + 2)² (γ + 3))),

which is `gamma_to_sigma`; `sigma_to_gamma` inverts it (the largest real root of
γ³ + 7γ² + (16 − σ⁻²)γ + (12 − σ⁻²) = 0). EDM2's defaults are σ_rel 0.05 and 0.10.

**Update.** After step t + 1 (t steps completed before it) the average moves as

    θ̂ ← β θ̂ + (1 − β) θ,     β = (1 − 1/(t + 1))^(γ + 1) = (t / (t + 1))^(γ + 1),

β = 0 at the first step, so the average starts as a copy of the weights. A run keeps one
such average per σ_rel (`update`), in ``state.aux['posthoc_ema']``, and snapshots them at an
interval (`gan_jax.run.posthoc_snapshots`).

**Reconstruction.** An average of any σ_rel at any step t* is approximated by a linear
combination Σᵢ xᵢ θ̂ᵢ of the snapshots (each a profile p_{tᵢ,γᵢ}), the x that minimises
the L2 distance between Σᵢ xᵢ p_{tᵢ,γᵢ} and p_{t*,γ*}: the normal equations A x = b with
Gram entries ⟨p_a, p_b⟩ = ∫ p_a p_b dτ, in closed form for power functions
(`profile_inner`):

    ⟨p_{a}, p_{b}⟩ = (γ_a + 1)(γ_b + 1) / (γ_a + γ_b + 1) · t_min^(γ_a + γ_b + 1) / (t_a^(γ_a+1) t_b^(γ_b+1)).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


def gamma_to_sigma(gamma) -> np.ndarray:
    """σ_rel of the power-function profile with exponent γ."""
    gamma = np.asarray(gamma, np.float64)
    return np.sqrt((gamma + 1) / ((gamma + 2) ** 2 * (gamma + 3)))


def sigma_to_gamma(sigma) -> np.ndarray:
    """The exponent γ whose profile has width σ_rel, for σ_rel in (0, 1/√12): the largest
    real root of γ³ + 7γ² + (16 − σ⁻²)γ + (12 − σ⁻²), i.e. of (γ + 1) = σ² (γ + 2)² (γ + 3)."""
    sigma = np.asarray(sigma, np.float64)
    inv = sigma.reshape(-1) ** -2
    roots = [np.roots([1.0, 7.0, 16.0 - s, 12.0 - s]).real.max() for s in inv]
    return np.asarray(roots, np.float64).reshape(sigma.shape)


SIGMA_MAX = float(gamma_to_sigma(0.0))  # γ → 0: the uniform average, σ_rel = 1/√12 ≈ 0.289


def key(sigma: float) -> str:
    """The name of the average of width ``sigma`` in the state and the snapshots."""
    return f"sigma_{sigma:g}"


def init(g_params: PyTree, sigmas: tuple[float, ...]) -> dict[str, PyTree]:
    """One average per σ_rel, as copies of the weights (the first update overwrites them)."""
    return {key(s): jax.tree.map(jnp.asarray, g_params) for s in sigmas}


def update(averages: dict[str, PyTree], params: PyTree, step: jax.Array, sigmas: tuple[float, ...]) -> dict:
    """Each average moved by β = (t / (t + 1))^(γ + 1), t = ``step`` the steps completed
    before this update."""
    t = step.astype(jnp.float32)
    out = {}
    for s in sigmas:
        beta = jnp.power(t / (t + 1.0), float(sigma_to_gamma(s)) + 1.0)
        out[key(s)] = jax.tree.map(lambda e, p: p + beta * (e - p), averages[key(s)], params)
    return out


def profile_inner(t_a, gamma_a, t_b, gamma_b) -> np.ndarray:
    """⟨p_{t_a,γ_a}, p_{t_b,γ_b}⟩ = ∫₀^min(t_a,t_b) p_a(τ) p_b(τ) dτ (broadcasting)."""
    t_a, g_a, t_b, g_b = (np.asarray(x, np.float64) for x in (t_a, gamma_a, t_b, gamma_b))
    t_min = np.minimum(t_a, t_b)
    # t_min^(γa+γb+1) / (t_a^(γa+1) t_b^(γb+1)), as a product of ratios ≤ 1 (no overflow)
    scale = (t_min / t_a) ** (g_a + 1) * (t_min / t_b) ** (g_b + 1) / t_min
    return (g_a + 1) * (g_b + 1) / (g_a + g_b + 1) * scale


def coefficients(times, sigmas, target_time: float, target_sigma: float) -> np.ndarray:
    """The xᵢ with Σᵢ xᵢ p_{tᵢ,σᵢ} closest (L2) to p_{t*,σ*}: snapshots at ``times`` of
    the averages of widths ``sigmas`` (equal-length sequences), target (``target_time``,
    ``target_sigma``)."""
    times, gammas = np.asarray(times, np.float64), sigma_to_gamma(np.asarray(sigmas, np.float64))
    gram = profile_inner(times[:, None], gammas[:, None], times[None, :], gammas[None, :])
    rhs = profile_inner(times, gammas, float(target_time), float(sigma_to_gamma(target_sigma)))
    return np.linalg.solve(gram, rhs)


def combine(trees: list[PyTree], weights: np.ndarray) -> PyTree:
    """Σᵢ wᵢ treeᵢ, accumulated in float64 and returned in each leaf's dtype."""

    def leaf(*values):
        total = sum(float(w) * np.asarray(v, np.float64) for w, v in zip(weights, values))
        return total.astype(np.asarray(values[0]).dtype)

    return jax.tree.map(leaf, *trees)
