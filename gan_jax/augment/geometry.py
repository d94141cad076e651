"""ADA's geometric augmentations: 3×3 homogeneous matrices and their execution on images.

Karras et al. 2020 ("Training Generative Adversarial Networks with Limited Data",
appendix B) express every geometric augmentation — the pixel blits (x-flip, 90°
rotations, integer translation) and the general ones (scaling, rotation, anisotropic
scaling, fractional translation) — as one 3×3 matrix per image, the *inverse* map

    (x_in, y_in, 1)ᵀ = G⁻¹ (x_out, y_out, 1)ᵀ

in pixel units with the origin at the image centre (x to the right, y down). The
pipeline builds G⁻¹ by right-multiplying the inverse of each op in turn, then
`warp` resamples every image once:

1. **reflect padding** of the input, so that what a rotation, shrink or shift brings
   into view continues the image as its mirror image instead of black borders;
2. **2× up-sampling** with the orthogonal low-pass of the 'sym6' wavelet (12 taps);
3. **bilinear sampling** of the up-sampled image on the transformed grid of an output
   that covers the image plus a 3-pixel border (zero outside the padded image);
4. **2× down-sampling** with the same filter, cropping the border.

Because sym6 is orthogonal (Σₖ h[k] h[k+2m] = δₘ), steps 2 and 4 cancel for the
identity and for integer translations, which sample the up-sampled image on its own
grid: those images come back to float32 rounding. Mirrors and 90° rotations sample on
the grid too, but sym6 is not symmetric, so the mirrored up-sampling does not match the
up-sampled mirror and the round trip acts as a mild low-pass (as in NVlabs' pipe); the
fractional transforms are band-limited instead of aliased.

The padding of NVlabs' stylegan2-ada-pytorch depends on the batch: per side, the
largest distance by which any transformed image corner leaves the image, plus two
filter half-widths, clipped to [0, size − 1]. Shapes must be static under ``jit``, so
`warp` always pads by the upper bound size − 1 and zeroes what lies beyond the
batch's margin, which reproduces that padding value for value.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.ops import upfirdn2d

# Low-pass decomposition filter of the Symlet-6 wavelet (Daubechies' least-asymmetric
# family, 6 vanishing moments): the published coefficients, Σh = √2, Σh² = 1.
SYM6 = (
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
)
FILTER = upfirdn2d.setup_filter(SYM6)  # the same filter in `upfirdn2d`'s form (1-D, DC gain 1)
FILTER_PAD = len(SYM6) // 4  # 3: the filter's half-width in input pixels


def matrix(rows: list[list]) -> jax.Array:
    """(B, n, n) from rows of per-image (B,) arrays and Python scalars."""
    batch = next(jnp.shape(v) for row in rows for v in row if jnp.ndim(v) > 0)
    cols = [[jnp.broadcast_to(jnp.asarray(v, jnp.float32), batch) for v in row] for row in rows]
    return jnp.stack([jnp.stack(row, axis=-1) for row in cols], axis=-2)


def translate2d(tx: jax.Array, ty: jax.Array) -> jax.Array:
    """[[1, 0, tx], [0, 1, ty], [0, 0, 1]]."""
    return matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def scale2d(sx: jax.Array, sy: jax.Array) -> jax.Array:
    """diag(sx, sy, 1)."""
    return matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def rotate2d(theta: jax.Array) -> jax.Array:
    """Rotation by θ: [[cos θ, −sin θ, 0], [sin θ, cos θ, 0], [0, 0, 1]] (clockwise on screen,
    y pointing down)."""
    c, s = jnp.cos(theta), jnp.sin(theta)
    return matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _constant(m: np.ndarray) -> jax.Array:
    return jnp.asarray(m, jnp.float32)


def margins(g_inv: jax.Array, height: int, width: int) -> jax.Array:
    """Reflect padding (x0, y0, x1, y1) in pixels for the whole batch.

    m = ⌈clip(max over images and corners of the corner's overshoot + 2·FILTER_PAD − c,
    0, size − 1)⌉, with the image corners (±c_x, ±c_y), c = (size − 1)/2, mapped by G⁻¹.
    """
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = _constant([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]]).T
    xy = (g_inv @ corners)[:, :2, :]  # (B, 2, 4)
    xy = jnp.moveaxis(xy, 1, 0).reshape(2, -1)  # (2, B·4)
    m = jnp.concatenate([-xy, xy]).max(axis=1)  # (x0, y0, x1, y1)
    m = m + _constant([2 * FILTER_PAD - cx, 2 * FILTER_PAD - cy] * 2)
    m = jnp.clip(m, 0.0, _constant([width - 1, height - 1] * 2))
    return jnp.ceil(m)


def fir_matrix(
    n: int,
    up: int = 1,
    down: int = 1,
    pad0: int = 0,
    pad1: int = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> np.ndarray:
    """(n_out, n) float32 matrix of `upfirdn2d` along one axis with the 1-D FILTER.

    Row o holds the weights of y[o] = Σₖ f̃[k] z[M·o + k], z the signal with L − 1 zeros
    after each sample and ``pad0``/``pad1`` zeros at the ends (negative: cropped), f̃ the
    filter reversed unless ``flip_filter``, scaled by √gain (the 1-D share of a 2-D gain).
    """
    taps = np.asarray(SYM6, np.float64)
    taps = taps / taps.sum() * np.sqrt(gain)
    if not flip_filter:
        taps = taps[::-1]
    length = n * up + pad0 + pad1
    z = np.zeros((n * up + max(pad0, 0) + max(pad1, 0), n))
    z[max(pad0, 0) + np.arange(n) * up, np.arange(n)] = 1.0
    z = z[max(-pad0, 0) : max(-pad0, 0) + length]
    n_out = (length - taps.size) // down + 1
    rows = down * np.arange(n_out)[:, None] + np.arange(taps.size)[None, :]
    return np.einsum("k,okn->on", taps, z[rows]).astype(np.float32)


def _padded_upsampling(n: int, margin0: jax.Array, margin1: jax.Array) -> jax.Array:
    """(2(n + 2(n − 1)), n): reflect padding by ``margin0``/``margin1`` ≤ n − 1 pixels (zero
    beyond), then 2× up-sampling, along one axis — a linear map, built as a matrix.

    The reflection is the static maximal one (the identity matrix reflect-padded by n − 1),
    masked to the batch's margins, so shapes stay static under ``jit``.
    """
    reflect = np.pad(np.eye(n, dtype=np.float32), ((n - 1, n - 1), (0, 0)), mode="reflect")
    position = np.arange(reflect.shape[0], dtype=np.float32) - (n - 1)  # in the original
    keep = (position >= -margin0) & (position < n + margin1)
    up = fir_matrix(reflect.shape[0], up=2, pad0=(len(SYM6) + 1) // 2, pad1=(len(SYM6) - 2) // 2, gain=4.0)
    return (up * keep[None, :].astype(jnp.float32)) @ reflect


def bilinear_sample(image: jax.Array, ix: jax.Array, iy: jax.Array) -> jax.Array:
    """Bilinear interpolation of NHWC ``image`` at pixel positions (ix, iy), (B, Ho, Wo) each.

    Pixel k's centre is at coordinate k; neighbours outside the image count as zero
    (``grid_sample`` with zero padding). Linear in ``image``, so gradients of any order
    w.r.t. the image exist; positions carry no gradient (they come from random draws).
    """
    b, h, w, c = image.shape
    flat = image.reshape(b, h * w, c)
    ix, iy = jax.lax.stop_gradient(ix), jax.lax.stop_gradient(iy)
    x0, y0 = jnp.floor(ix), jnp.floor(iy)
    fx, fy = ix - x0, iy - y0
    x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
    out = jnp.zeros(ix.shape + (c,), image.dtype)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xs, ys = x0 + dx, y0 + dy
            inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
            index = (jnp.clip(ys, 0, h - 1) * w + jnp.clip(xs, 0, w - 1)).reshape(b, -1)
            values = jax.vmap(lambda f, i: f[i])(flat, index).reshape(out.shape)
            out = out + (wx * wy * inside).astype(image.dtype)[..., None] * values
    return out


def warp(x: jax.Array, g_inv: jax.Array) -> jax.Array:
    """Resamples NHWC images ``x`` through per-image inverse transforms ``g_inv`` (B, 3, 3).

    Steps as in the module docstring. Pixel k of the 2× up-sampled image lies on input
    pixel k/2, so in its centred coordinates the inverse map is U = T(−½) S(2) G⁻¹ S(½) T(½);
    output pixel j (of Wo = 2(W + 2·FILTER_PAD)) is sampled at
    U (j + ½ − Wo/2) + (Wu − 1)/2 in the up-sampled image of width Wu.
    Products run in full float32 (no TF32/bf16 passes), which the lossless blits need.
    """
    with jax.default_matmul_precision("highest"):
        return _warp(x, g_inv)


def _warp(x: jax.Array, g_inv: jax.Array) -> jax.Array:
    b, h, w, c = x.shape
    g_inv = g_inv.astype(jnp.float32)
    # The separable pad-and-up-sample and the final down-sampling run as matrix products
    # along each axis: same sums as `upfirdn2d`, but XLA's CPU depthwise convolution of the
    # (3·size)² zero-stuffed image is some 20× slower than these GEMMs.
    m = margins(g_inv, h, w)
    up = jnp.einsum("vh,bhwc->bvwc", _padded_upsampling(h, m[1], m[3]), x)
    up = jnp.einsum("uw,bvwc->bvuc", _padded_upsampling(w, m[0], m[2]), up)
    hu, wu = up.shape[1:3]
    half, two = jnp.full((b,), 0.5, jnp.float32), jnp.full((b,), 2.0, jnp.float32)
    u = translate2d(-half, -half) @ scale2d(two, two) @ g_inv @ scale2d(half, half) @ translate2d(half, half)
    ho, wo = 2 * (h + 2 * FILTER_PAD), 2 * (w + 2 * FILTER_PAD)
    qy, qx = jnp.meshgrid(
        jnp.arange(ho, dtype=jnp.float32) + 0.5 - ho / 2,
        jnp.arange(wo, dtype=jnp.float32) + 0.5 - wo / 2,
        indexing="ij",
    )
    grid = jnp.stack([qx, qy, jnp.ones_like(qx)], axis=-1)  # (Ho, Wo, 3)
    src = jnp.einsum("bij,hwj->bhwi", u, grid)
    sampled = bilinear_sample(up, src[..., 0] + (wu - 1) / 2, src[..., 1] + (hu - 1) / 2)
    # Down-sampling with cropping of the border: `downsample2d` with padding −2·FILTER_PAD.
    pad = (len(SYM6) - 1) // 2 - 2 * FILTER_PAD, (len(SYM6) - 2) // 2 - 2 * FILTER_PAD
    down_h = fir_matrix(ho, down=2, pad0=pad[0], pad1=pad[1], flip_filter=True)
    down_w = fir_matrix(wo, down=2, pad0=pad[0], pad1=pad[1], flip_filter=True)
    out = jnp.einsum("yv,bvuc->byuc", down_h, sampled)
    return jnp.einsum("xu,byuc->byxc", down_w, out)
