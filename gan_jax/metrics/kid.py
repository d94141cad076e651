"""Kernel distance: the unbiased squared MMD with a cubic polynomial kernel (KID when
the features are Inception-v3 pool3 activations).

Bińkowski et al. 2018, "Demystifying MMD GANs", section 4 and appendix D:

    k(x, y) = (xᵀy / d + 1)³
    MMD²ᵤ = 1/(m(m−1)) Σ_{i≠j} k(xᵢ, xⱼ) + 1/(m(m−1)) Σ_{i≠j} k(yᵢ, yⱼ) − 2/m² Σ_{i,j} k(xᵢ, yⱼ)

computed on ``num_subsets`` random subsets of ``subset_size`` from each set (without
replacement within a subset) and averaged; the paper's protocol is 100 subsets of
1000. Unlike FID, the estimator is unbiased, so small sample counts do not inflate it.
"""

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """MMD²ᵤ of two equally sized samples with the cubic polynomial kernel."""
    m = len(x)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off(kxx) + off(kyy) - 2.0 * kxy.mean())


def kernel_distance(
    real: np.ndarray, fake: np.ndarray, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """(mean, standard deviation) of MMD²ᵤ over random subsets, in float64."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError("kernel distance needs at least 2 samples in each set")
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(
            fake[rng.choice(len(fake), m, replace=False)], real[rng.choice(len(real), m, replace=False)]
        )
        for _ in range(num_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
