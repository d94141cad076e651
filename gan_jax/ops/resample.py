"""StyleGAN2's resampling convolution (NVlabs' ``conv2d_resample``): a convolution with
×up / ÷down FIR resampling, NHWC, and the transposed convolution it up-samples with,
whose gradients run through its adjoint strided correlation (the same values as XLA's
own gradients, the form XLA:CPU computes fast) on every backend."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.ops import upfirdn2d as fir
from gan_jax.ops.grouped_conv import pointwise

_NHWC = ("NHWC", "HWIO", "NHWC")


def conv(
    x: jax.Array,
    w: jax.Array,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
    groups: int = 1,
    lhs_dilation: int = 1,
) -> jax.Array:
    """Correlation (PyTorch's conv2d) of NHWC ``x`` with an HWIO kernel, padding (py, px);
    a plain 1×1 one as `grouped_conv.pointwise` (a 2-D matmul, XLA:CPU's fast path)."""
    if (
        w.shape[:2] == (1, 1)
        and stride == 1
        and tuple(padding) == (0, 0)
        and groups == 1
        and lhs_dilation == 1
    ):
        return pointwise(x, w)
    return jax.lax.conv_general_dilated(
        x,
        w,
        (stride, stride),
        ((padding[0], padding[0]), (padding[1], padding[1])),
        lhs_dilation=(lhs_dilation, lhs_dilation),
        dimension_numbers=_NHWC,
        feature_group_count=groups,
    )


def _dilated_conv(
    x: jax.Array, w: jax.Array, stride: int, padding: tuple[int, int], groups: int
) -> jax.Array:
    kh, kw = w.shape[:2]
    w = jnp.flip(w, (0, 1))
    return jax.lax.conv_general_dilated(
        x,
        w,
        (1, 1),
        ((kh - 1 - padding[0],) * 2, (kw - 1 - padding[1],) * 2),
        lhs_dilation=(stride, stride),
        dimension_numbers=_NHWC,
        feature_group_count=groups,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_transpose(
    x: jax.Array, w: jax.Array, stride: int, padding: tuple[int, int], groups: int
) -> jax.Array:
    """PyTorch's conv_transpose2d with the HWIO kernel ``w`` read as the adjoint of a
    correlation: y[s·i + a − p] += x[i]·w[a]. That is the correlation of the input
    dilated by s with the spatially flipped kernel, padded by k − 1 − p.

    Both gradients go through the adjoint A(dy; w) = (∂y/∂x)ᵀ dy, a stride-s correlation:
    ∂/∂x = A(dy; w), and since ⟨y(x, w), dy⟩ = ⟨x, A(dy; w)⟩, ∂/∂w = ∇_w ⟨x, A(dy; w)⟩, the
    weight gradient of that strided correlation. XLA:CPU computes the input-dilated
    forward fast but differentiates it an order of magnitude more slowly than a strided
    correlation (the same finding as `gan_jax.ops.conv4x4`); the
    values are the same. Reverse mode to any order (R1, path length) works through it."""
    return _dilated_conv(x, w, stride, padding, groups)


def _adjoint(
    dy: jax.Array, w: jax.Array, x_like: jax.Array, stride: int, padding: tuple[int, int], groups: int
) -> jax.Array:
    forward = lambda v: _dilated_conv(v, w, stride, padding, groups)  # noqa: E731
    return jax.linear_transpose(forward, x_like)(dy)[0]


def _conv_transpose_fwd(x, w, stride, padding, groups):
    return _dilated_conv(x, w, stride, padding, groups), (x, w)


def _conv_transpose_bwd(stride, padding, groups, residuals, dy):
    x, w = residuals
    x_like = jax.ShapeDtypeStruct(x.shape, x.dtype)
    adjoint = lambda v: _adjoint(dy, v, x_like, stride, padding, groups)  # noqa: E731
    dx, pullback = jax.vjp(adjoint, w)
    return dx, pullback(x)[0]


_conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv2d_resample(
    x: jax.Array,
    w: jax.Array,
    f: np.ndarray | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> jax.Array:
    """Convolution with ×up / ÷down resampling, as NVlabs' ``conv2d_resample``.

    With up = down = 1 it is the correlation of x with the HWIO kernel w (padding p).
    Up-sampling is the transposed convolution of stride ``up`` (w read as a convolution
    kernel, not flipped: NVlabs' ``flip_weight=False``) followed by the FIR filter with
    gain up²; down-sampling is the FIR filter followed by the stride-``down`` correlation
    (for 1×1 kernels: FIR down-sampling, then the 1×1 correlation). All padding is
    applied once, relative to the up-sampled image, as NVlabs does, so the results
    agree with it to rounding. ``groups`` > 1 is a grouped convolution (w is
    (kh, kw, C_in/groups, C_out)).
    """
    kh, kw = int(w.shape[0]), int(w.shape[1])
    fw, fh = fir.filter_size(f)
    px0 = px1 = py0 = py1 = padding
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = fir.upfirdn2d(x, f, down=down, padding=(px0, px1, py0, py1))
        return conv(x, w, groups=groups)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = conv(x, w, groups=groups)
        return fir.upfirdn2d(x, f, up=up, padding=(px0, px1, py0, py1), gain=up**2)
    if down > 1 and up == 1:
        x = fir.upfirdn2d(x, f, padding=(px0, px1, py0, py1))
        return conv(x, w, stride=down, groups=groups)
    if up > 1:
        # The transposed convolution pads as much as both sides allow; the FIR pass pads
        # (or crops) the rest.
        px0, px1 = px0 - (kw - 1), px1 - (kw - up)
        py0, py1 = py0 - (kh - 1), py1 - (kh - up)
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = _conv_transpose(x, w, up, (pyt, pxt), groups)
        x = fir.upfirdn2d(x, f, padding=(px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt), gain=up**2)
        if down > 1:
            x = fir.upfirdn2d(x, f, down=down)
        return x
    return conv(x, w, padding=(py0, px0), groups=groups)
