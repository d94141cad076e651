"""k-nearest-neighbour manifold metrics: improved precision/recall and density/coverage.

Each set of features is treated as a union of balls, one per sample, whose radius is
the distance to the sample's k-th nearest neighbour within its own set (itself
excluded).

Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and
Recall Metric for Assessing Generative Models", eq. 1-3, k = 3):

    precision = 1/M Σⱼ 1[ ∃ i: ‖Yⱼ − Xᵢ‖ ≤ NNDₖ(Xᵢ) ]     (fakes Y inside the real manifold)
    recall    = 1/N Σᵢ 1[ ∃ j: ‖Xᵢ − Yⱼ‖ ≤ NNDₖ(Yⱼ) ]     (reals X inside the fake manifold)

Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models", eq. 5-6, k = 5), which use only the real balls and so are robust to
outlying fakes:

    density  = 1/(kM) Σⱼ Σᵢ 1[ ‖Yⱼ − Xᵢ‖ < NNDₖ(Xᵢ) ]
    coverage = 1/N Σᵢ 1[ ∃ j: ‖Yⱼ − Xᵢ‖ < NNDₖ(Xᵢ) ]

The two papers' own code differ at ties, and each metric follows its authors: a fake on
the boundary of a ball is inside it for precision/recall (``≤``, Kynkäänniemi et al.'s
code) and outside it for density/coverage (``<``, Naeem et al.'s ``prdc`` package). The
difference shows when distances tie exactly, as in a set scored against itself: each ball
then holds its centre and k − 1 neighbours strictly inside, so density is exactly 1 (with
``≤`` it would be (k + 1)/k); duplicated or memorised images tie the same way.

Distances are computed in row blocks, so memory stays O(block · N).
"""

import numpy as np

_BLOCK = 1024


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)), via ‖a‖² + ‖b‖² − 2 a·b clipped at 0."""
    sq = _sq_norms(a)[:, None] + _sq_norms(b)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0))


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples, got {len(x)}")
    radii = np.empty(len(x), x.dtype)
    for start in range(0, len(x), _BLOCK):
        d = pairwise_distances(x[start : start + _BLOCK], x)
        # the k+1-th smallest: the smallest is the point itself (distance 0)
        radii[start : start + _BLOCK] = np.partition(d, k, axis=1)[:, k]
    return radii


def _inside(d: np.ndarray, radii: np.ndarray, closed: bool) -> np.ndarray:
    return d <= radii if closed else d < radii


def _ball_counts(
    points: np.ndarray, centres: np.ndarray, radii: np.ndarray, closed: bool = True
) -> np.ndarray:
    """For each point, how many of the balls (centres, radii) contain it (``closed``: the
    boundary counts as inside)."""
    counts = np.zeros(len(points), np.int64)
    for start in range(0, len(points), _BLOCK):
        d = pairwise_distances(points[start : start + _BLOCK], centres)
        counts[start : start + _BLOCK] = np.sum(_inside(d, radii[None, :], closed), axis=1)
    return counts


def _covered(centres: np.ndarray, radii: np.ndarray, points: np.ndarray, closed: bool = True) -> np.ndarray:
    """For each ball, whether any of the points lies inside it."""
    hit = np.zeros(len(centres), bool)
    for start in range(0, len(centres), _BLOCK):
        d = pairwise_distances(centres[start : start + _BLOCK], points)
        hit[start : start + _BLOCK] = np.any(_inside(d, radii[start : start + _BLOCK, None], closed), axis=1)
    return hit


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    precision = np.mean(_ball_counts(fake, real, knn_radii(real, k)) > 0)
    recall = np.mean(_ball_counts(real, fake, knn_radii(fake, k)) > 0)
    return float(precision), float(recall)


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    radii = knn_radii(real, k)
    density = np.sum(_ball_counts(fake, real, radii, closed=False)) / (k * len(fake))
    coverage = np.mean(_covered(real, radii, fake, closed=False))
    return float(density), float(coverage)
