"""Up-sample, FIR-filter, down-sample: the resampling of StyleGAN2 (NHWC, pure JAX).

    y = down_M( f * pad_p( up_L(x) ) )

``up_L`` inserts L−1 zeros after every pixel along each spatial axis, ``pad_p`` adds
zeros (or crops, for negative amounts) at the borders, ``*`` is the 2-D convolution
with the FIR filter f (a true convolution unless ``flip_filter``), and ``down_M`` keeps
every M-th pixel. Karras et al. 2020 ("Analyzing and Improving the Image Quality of
StyleGAN", appendix B) use the binomial filter [1, 3, 3, 1] ⊗ [1, 3, 3, 1], normalised
to unit DC gain, for every up- and down-sampling; the padding conventions of
`upsample2d`, `downsample2d` and `filter2d` are those of NVlabs' stylegan2-ada-pytorch,
so that the output has L× / (1/M)× / 1× the input size.

The filter runs as sums of shifted slices, which XLA fuses into elementwise passes (on
CPU far faster than a depthwise convolution, forward and backward; on accelerators as
fast). A 1-D filter, or a 2-D filter of rank one such as the [1, 3, 3, 1] ⊗ [1, 3, 3, 1]
that `setup_filter` makes (as NVlabs does for filters of fewer than 8 taps), runs as two
1-D passes, along W and then along H.

Padding is given as NVlabs gives it: an int, ``(px, py)``, or ``(px0, px1, py0, py1)``
(x = width, y = height; 0 = before, 1 = after).
"""

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Padding = int | Sequence[int]


def setup_filter(
    taps: Sequence[float] | np.ndarray = (1, 3, 3, 1),
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1.0,
    separable: bool | None = None,
) -> np.ndarray:
    """FIR filter array for `upfirdn2d`.

    A 1-D tap list becomes the outer product f ⊗ f unless ``separable`` (default: only
    filters of 8 or more taps stay 1-D). ``normalize`` divides by Σf (unit DC gain);
    ``gain`` multiplies the 2-D response by ``gain``, i.e. each 1-D factor by √gain.
    """
    f = np.asarray(taps, np.float32)
    if f.ndim == 0:
        f = f[np.newaxis]
    if separable is None:
        separable = f.ndim == 1 and f.size >= 8
    if f.ndim == 1 and not separable:
        f = np.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = np.flip(f, tuple(range(f.ndim)))
    return (f * gain ** (f.ndim / 2)).astype(np.float32)


def parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """(px0, px1, py0, py1) from an int, (px, py) or (px0, px1, py0, py1)."""
    if isinstance(padding, (int, np.integer)):
        padding = (padding, padding)
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        padding = (padding[0], padding[0], padding[1], padding[1])
    if len(padding) != 4:
        raise ValueError(f"padding must be an int, (px, py) or (px0, px1, py0, py1), got {padding}")
    return padding


def filter_size(f: np.ndarray | None) -> tuple[int, int]:
    """(width, height) of a filter; (1, 1) for none."""
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def _correlate_axis(x: jax.Array, taps: np.ndarray, axis: int, stride: int) -> jax.Array:
    """Correlation of ``x`` with 1-D ``taps`` along ``axis`` (no padding), keeping every
    ``stride``-th output: a sum of shifted, strided slices. XLA fuses it into one
    elementwise pass, which on CPU is an order of magnitude faster than a depthwise
    convolution, forward and backward."""
    n = x.shape[axis] - len(taps) + 1
    if n <= 0:
        raise ValueError(f"filter of {len(taps)} taps is longer than the padded input ({x.shape[axis]})")
    last = (n - 1) // stride * stride
    out = None
    for k, t in enumerate(taps):
        if t == 0.0:
            continue
        term = jax.lax.slice_in_dim(x, k, k + last + 1, stride, axis) * jnp.asarray(t, x.dtype)
        out = term if out is None else out + term
    if out is None:  # an all-zero filter
        out = jnp.zeros_like(jax.lax.slice_in_dim(x, 0, last + 1, stride, axis))
    return out


def _rank_one(f: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(fy, fx) with f = fy ⊗ fx when the 2-D filter is separable, else None."""
    if np.linalg.matrix_rank(f.astype(np.float64)) != 1:
        return None
    i, j = np.unravel_index(np.argmax(np.abs(f)), f.shape)
    fy, fx = f[:, j].astype(np.float64), f[i, :].astype(np.float64) / float(f[i, j])
    if not np.allclose(np.outer(fy, fx), f, rtol=1e-6, atol=1e-9):
        return None
    return fy, fx


def _filter(x: jax.Array, f: np.ndarray, down: int) -> jax.Array:
    """Correlation of every channel of NHWC ``x`` with ``f`` (1-D: the same taps along W and
    H; 2-D: (kh, kw)), no padding, stride ``down``. Separable filters (all 1-D ones, and
    2-D ones of rank 1 such as [1, 3, 3, 1] ⊗ [1, 3, 3, 1]) run as two 1-D passes."""
    if f.ndim == 1:
        fy = fx = f
    else:
        factors = _rank_one(f)
        if factors is None:
            rows = [
                _correlate_axis(
                    jax.lax.slice_in_dim(x, r, x.shape[1] - f.shape[0] + r + 1, axis=1), f[r], 2, down
                )
                for r in range(f.shape[0])
            ]
            return jax.lax.slice_in_dim(sum(rows), 0, None, down, 1)
        fy, fx = factors
    return _correlate_axis(_correlate_axis(x, fx, 2, down), fy, 1, down)


def upfirdn2d(
    x: jax.Array,
    f: np.ndarray | None,
    up: int = 1,
    down: int = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> jax.Array:
    """y = down_M(f * pad_p(up_L(x))) for NHWC ``x`` and a 1-D (separable) or 2-D filter.

    Output size along each axis: (L·n + p0 + p1 − k) // M + 1 for filter length k.
    ``gain`` scales the 2-D response (√gain per 1-D pass). Down-sampling is the stride
    of the filtering convolution, which computes only the kept pixels.
    """
    px0, px1, py0, py1 = parse_padding(padding)
    if f is None:
        f = np.ones((1, 1), np.float32)
    f = np.asarray(f, np.float32)
    # Zero insertion and padding/cropping are one lax.pad: interior padding up−1, and the
    # L−1 trailing zeros of the last pixel folded into the high edge.
    zero = jnp.zeros((), x.dtype)
    x = jax.lax.pad(x, zero, ((0, 0, 0), (py0, py1 + up - 1, up - 1), (px0, px1 + up - 1, up - 1), (0, 0, 0)))
    f = f * gain ** (f.ndim / 2)
    if not flip_filter:  # a convolution is the correlation with the flipped filter
        f = np.flip(f, tuple(range(f.ndim)))
    return _filter(x, f, down)


def filter2d(
    x: jax.Array, f: np.ndarray, padding: Padding = 0, flip_filter: bool = False, gain: float = 1.0
) -> jax.Array:
    """FIR filtering that keeps the size: borders padded by (k//2, (k−1)//2), plus ``padding``."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = (px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2)
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(
    x: jax.Array,
    f: np.ndarray,
    up: int = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> jax.Array:
    """×L up-sampling: zero insertion, then f scaled by L² (zero insertion divides the
    mean by L²); borders padded by ((k+L−1)//2, (k−L)//2) so the output is L× the input."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = (px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * up * up)


def downsample2d(
    x: jax.Array,
    f: np.ndarray,
    down: int = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> jax.Array:
    """÷M down-sampling: f, then every M-th pixel; borders padded by ((k−M+1)//2, (k−M)//2)
    so the output is 1/M of the input."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = (
        px0 + (fw - down + 1) // 2,
        px1 + (fw - down) // 2,
        py0 + (fh - down + 1) // 2,
        py1 + (fh - down) // 2,
    )
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)
