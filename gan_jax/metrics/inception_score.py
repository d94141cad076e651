"""Inception Score.

Salimans et al. 2016, "Improved Techniques for Training GANs", section 4:

    IS = exp( E_x [ KL( p(y|x) ‖ p(y) ) ] ),   p(y) = E_x [ p(y|x) ]

with p(y|x) the softmax of the classifier's logits (Inception-v3's 1008-way head,
unbiased: pool3 @ W). As in the paper's code, the N samples are cut into ``splits``
consecutive parts, part i being rows [i·N // splits, (i+1)·N // splits) (when N is not a
multiple of the split count, the larger parts fall where that arithmetic puts them, not
first as numpy.array_split would), the score is computed on each, and the mean and
standard deviation over parts are reported.
"""

import numpy as np
from scipy.special import log_softmax


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) of the score over ``splits`` consecutive parts of the samples."""
    log_p = log_softmax(np.asarray(logits, np.float64), axis=1)
    if len(log_p) < splits:
        raise ValueError(f"{len(log_p)} samples cannot be cut into {splits} splits")
    scores = []
    n = len(log_p)
    for i in range(splits):
        part = log_p[i * n // splits : (i + 1) * n // splits]
        log_py = np.log(np.mean(np.exp(part), axis=0))
        kl = np.sum(np.exp(part) * (part - log_py), axis=1)
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))
