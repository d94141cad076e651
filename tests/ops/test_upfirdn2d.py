"""upfirdn2d against a direct NumPy loop: zero insertion, padding/cropping, true convolution
with the FIR filter, and subsampling, one output pixel at a time."""

import numpy as np
import pytest

from gan_jax.ops import upfirdn2d as fir


def reference(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0):
    """The definition, pixel by pixel, on NHWC float64 arrays."""
    px0, px1, py0, py1 = fir.parse_padding(padding)
    f = np.asarray(f, np.float64)
    f2 = np.outer(f, f) if f.ndim == 1 else f  # a 1-D filter is the separable f ⊗ f
    f2 = f2 * gain
    b, h, w, c = x.shape
    upsampled = np.zeros((b, h * up, w * up, c))
    for i in range(h):
        for j in range(w):
            upsampled[:, i * up, j * up] = x[:, i, j]
    hh, ww = h * up + py0 + py1, w * up + px0 + px1
    padded = np.zeros((b, hh, ww, c))
    for i in range(hh):
        for j in range(ww):
            si, sj = i - py0, j - px0
            if 0 <= si < h * up and 0 <= sj < w * up:
                padded[:, i, j] = upsampled[:, si, sj]
    fh, fw = f2.shape
    kernel = f2 if flip_filter else f2[::-1, ::-1]  # convolution = correlation with the flip
    out = np.zeros((b, hh - fh + 1, ww - fw + 1, c))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = padded[:, i : i + fh, j : j + fw]
            out[:, i, j] = np.einsum("bhwc,hw->bc", window, kernel)
    return out[:, ::down, ::down]


def _x(h=6, w=5, c=3, seed=0):
    return np.random.default_rng(seed).standard_normal((2, h, w, c)).astype(np.float32)


ASYMMETRIC = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.float32)  # (fh=2, fw=3)

CASES = {
    "filter only": dict(f=fir.setup_filter(), padding=(2, 1, 1, 2)),
    "up only": dict(f=fir.setup_filter(), up=2, padding=(2, 1, 2, 1), gain=4.0),
    "down only": dict(f=fir.setup_filter(), down=2, padding=1),
    "up, down, cropping": dict(f=fir.setup_filter(), up=3, down=2, padding=(1, -2, 0, -1)),
    "asymmetric 2-D filter": dict(f=ASYMMETRIC, up=2, down=2, padding=(1, 2, 0, 3)),
    "flip_filter": dict(f=ASYMMETRIC, padding=(1, 1, 1, 0), flip_filter=True),
    "separable 1-D": dict(
        f=np.array([1.0, 2.0, -1.0], np.float32), up=2, down=3, padding=(1, 0, 2, 1), gain=2.0
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_upfirdn2d_matches_the_direct_loop(name):
    x, kw = _x(), CASES[name]
    got = np.asarray(fir.upfirdn2d(x, **kw))
    want = reference(x.astype(np.float64), **kw)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_setup_filter_is_the_normalised_binomial_outer_product():
    f = fir.setup_filter((1, 3, 3, 1))
    np.testing.assert_allclose(f, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0, rtol=1e-7)
    assert fir.setup_filter(np.ones(8)).ndim == 1  # 8 taps and more stay separable
    np.testing.assert_allclose(fir.setup_filter((1, 1), gain=4.0), np.full((2, 2), 1.0), rtol=1e-7)


def test_resampling_wrappers_keep_nvlabs_sizes_and_dc_gain():
    f = fir.setup_filter()
    x = np.ones((1, 8, 8, 2), np.float32)
    up, down, same = fir.upsample2d(x, f), fir.downsample2d(x, f), fir.filter2d(x, f)
    assert up.shape == (1, 16, 16, 2) and down.shape == (1, 4, 4, 2) and same.shape == x.shape
    # Away from the zero-padded borders a constant image stays constant.
    np.testing.assert_allclose(np.asarray(up)[:, 3:-3, 3:-3], 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(down)[:, 1:-1, 1:-1], 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(same)[:, 2:-2, 2:-2], 1.0, rtol=1e-6)
    x = _x(8, 8)
    want = reference(x, f, up=2, padding=(2, 1, 2, 1), gain=4.0)
    np.testing.assert_allclose(fir.upsample2d(x, f), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        fir.downsample2d(x, f), reference(x, f, down=2, padding=1), rtol=1e-5, atol=1e-5
    )
