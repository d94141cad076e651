"""KID, Inception Score, precision/recall and density/coverage against brute-force loops."""

import itertools
import math

import numpy as np
import pytest

from gan_jax.metrics import inception_score, kid, precision_recall


def brute_mmd2(x, y):
    d = x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_mmd2_matches_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.5, 1, size=(12, 5))
    assert kid.mmd2_unbiased(x, y) == pytest.approx(brute_mmd2(x, y), rel=1e-10)


def test_kernel_distance_one_full_subset_is_the_mmd():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(15, 4)), rng.normal(size=(15, 4)) * 2
    mean, std = kid.kernel_distance(x, y, num_subsets=1, subset_size=15)
    assert mean == pytest.approx(brute_mmd2(y, x), rel=1e-10) and std == 0.0


def test_kernel_distance_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.default_rng(2)
    same = kid.kernel_distance(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)), 20, 100)[0]
    shifted = kid.kernel_distance(rng.normal(size=(400, 8)), rng.normal(1, 1, size=(400, 8)), 20, 100)[0]
    assert abs(same) < 0.05 < shifted


def brute_inception_score(logits, splits, cut=None):
    """The score on parts cut at ``cut`` (default: the original code's i·N // splits)."""
    n = len(logits)
    cut = cut if cut is not None else [i * n // splits for i in range(splits + 1)]
    scores = []
    for part in (logits[a:b] for a, b in zip(cut[:-1], cut[1:])):
        p = [np.exp(l - max(l)) / np.sum(np.exp(l - max(l))) for l in part]
        py = np.mean(p, axis=0)
        kls = [sum(pi[c] * math.log(pi[c] / py[c]) for c in range(len(py))) for pi in p]
        scores.append(math.exp(np.mean(kls)))
    return np.mean(scores), np.std(scores)


def test_inception_score_matches_brute_force():
    logits = np.random.default_rng(3).normal(size=(40, 7)) * 3
    got = inception_score.inception_score(logits, splits=4)
    np.testing.assert_allclose(got, brute_inception_score(logits, 4), rtol=1e-10)


def test_inception_score_cuts_where_the_original_code_cuts():
    """N = 5003 in 10 parts: the original code's parts start at 0, 500, 1000, 1500, 2001, ...
    (numpy.array_split would make the first three 501 long instead)."""
    logits = np.random.default_rng(8).normal(size=(5003, 7)) * 3
    got = inception_score.inception_score(logits, splits=10)
    cut = [0, 500, 1000, 1500, 2001, 2501, 3001, 3502, 4002, 4502, 5003]
    assert cut == [i * 5003 // 10 for i in range(11)]
    np.testing.assert_allclose(got, brute_inception_score(logits, 10, cut), rtol=1e-10)
    sizes = [len(p) for p in np.array_split(logits, 10)]
    other = brute_inception_score(logits, 10, list(np.cumsum([0] + sizes)))
    assert abs(got[1] - other[1]) > 1e-9  # the split convention is visible in the spread


def test_inception_score_extremes():
    uniform = np.zeros((20, 5))
    assert inception_score.inception_score(uniform, 2)[0] == pytest.approx(1.0)
    confident = np.tile(np.eye(5) * 50, (4, 1))  # every class equally often, each sure
    assert inception_score.inception_score(confident, 2)[0] == pytest.approx(5.0, rel=1e-6)


def brute_knn_radius(x, i, k):
    return sorted(np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if j != i)[k - 1]


def test_precision_recall_matches_brute_force():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(30, 3)), rng.normal(0.7, 1.3, size=(25, 3))
    rr = [brute_knn_radius(real, i, 3) for i in range(len(real))]
    fr = [brute_knn_radius(fake, j, 3) for j in range(len(fake))]
    precision = np.mean([any(np.linalg.norm(f - real[i]) <= rr[i] for i in range(len(real))) for f in fake])
    recall = np.mean([any(np.linalg.norm(r - fake[j]) <= fr[j] for j in range(len(fake))) for r in real])
    got = precision_recall.precision_recall(real, fake, k=3)
    assert got == pytest.approx((precision, recall))
    assert 0 < got[0] < 1 and 0 < got[1] < 1


def test_density_coverage_match_brute_force():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(30, 3)), rng.normal(0.5, 0.8, size=(20, 3))
    rr = [brute_knn_radius(real, i, 5) for i in range(len(real))]
    inside = np.array([[np.linalg.norm(f - real[i]) < rr[i] for i in range(len(real))] for f in fake])
    density = inside.sum() / (5 * len(fake))
    coverage = inside.any(axis=0).mean()
    assert precision_recall.density_coverage(real, fake, k=5) == pytest.approx((density, coverage))


def test_identical_sets_are_perfect():
    x = np.random.default_rng(6).normal(size=(50, 4))
    assert precision_recall.precision_recall(x, x) == (1.0, 1.0)
    # Density's balls are open (Naeem et al.'s code): each holds its centre and k - 1 of
    # its neighbours, the k-th lying on the boundary, so density is exactly 1, not (k+1)/k.
    assert precision_recall.density_coverage(x, x) == (1.0, 1.0)
    assert precision_recall.density_coverage(x, x, k=3) == (1.0, 1.0)


def test_ties_count_for_precision_but_not_for_density():
    """A fake exactly on a real ball's boundary: inside for improved precision (closed
    balls, Kynkäänniemi et al.'s code), outside for density and coverage (open balls)."""
    real = np.array([[0.0], [1.0], [5.0], [6.0]])  # k = 1: every radius is 1
    fake = np.array([[2.0], [2.0]])  # distances 2, 1, 3, 4: on the boundary of ball 1 only
    assert precision_recall.precision_recall(real, fake, k=1)[0] == 1.0
    assert precision_recall.density_coverage(real, fake, k=1) == (0.0, 0.0)
    fake = np.array([[0.5]])  # strictly inside balls 0 and 1
    assert precision_recall.density_coverage(real, fake, k=1) == (2.0, 0.5)


def test_blocks_do_not_change_results(monkeypatch):
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(70, 3)), rng.normal(size=(60, 3))
    whole = precision_recall.precision_recall(real, fake), precision_recall.density_coverage(real, fake)
    monkeypatch.setattr(precision_recall, "_BLOCK", 16)
    assert (
        precision_recall.precision_recall(real, fake),
        precision_recall.density_coverage(real, fake),
    ) == whole
