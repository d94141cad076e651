"""The 4×4 stride-2 convolutions of DCGAN: ``down`` halves H and W (PyTorch's
Conv2d(k=4, s=2, p=1)), ``up`` doubles them (ConvTranspose2d(k=4, s=2, p=1), an
input-dilated convolution), and faster forms of both, each the same function.
`down_conv` and `up_conv` compute the form a `gan_jax.ops.policy.Policy` names.

``up``'s forms (``Policy.conv_transpose``):

* ``native``: ``lax.conv_transpose``, differentiated by XLA;
* ``adjoint``: the same forward, both gradients through the adjoint stride-2
  convolution: ``up(·, W)`` is the adjoint of ``down(·, T(W))`` (`adjoint_kernel`), so
  ∂/∂x = down(dy, T(W)) and ∂/∂W = T(∂/∂V ⟨x, down(dy, V)⟩ at V = T(W)). XLA:CPU computes
  the input-dilated forward fast but its gradients an order of magnitude more slowly than
  a strided convolution's; this form keeps the fast half of each;
* ``subpixel``: a stride-1 3×3 convolution to 4× the channels, then depth-to-space (Shi et
  al. 2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient
  Sub-Pixel Convolutional Neural Network"): each output phase (2m+a, 2n+b) is a 2×2
  correlation of the input with taps of the 4×4 kernel (`subpixel_kernel`); the 3×3
  window covers all four phases (9/4 of the multiply-adds, no input-dilated convolution
  left); with the adjoint gradients.

Batch slices (``Policy.conv_batch_slices``): a convolution is independent per example,
so the input-dilated convolutions (``up``'s forward, ``down``'s input gradient) can run on
``n`` slices of the batch, concatenated: the same function. 0 slices means by the layer's
size (`auto_slices`). On several devices the slices are strided (example i in slice
i mod n), so that a batch sharded in contiguous blocks stays sharded and each slice is
local to every device.

Weight gradients by the taps (``Policy.conv_weight_grad``): the weight gradient of a
layer whose input has few channels (D's first layer, G's last through its adjoint) as 16
matrix products over the strided taps of the input (`taps_kernel_grad`):

    ∂L/∂W[i, j] = Σ_{b,h,w} x̃[b, 2h+i, 2w+j, :]ᵀ · ∂L/∂y[b, h, w, :],   x̃ = x zero-padded by 1,

where XLA:CPU would transpose both operands into a convolution over the input channels
('by_size': inputs of at most 4 channels holding at least 512 KiB per device). The sizes
that decide come from the per-layer timings in benchmarks/results/history.md.

The forms with their own gradients are `jax.custom_vjp` functions (`up_adjoint`,
`down_sliced`): reverse mode to any order (R1 differentiates D's input gradient), not
`jax.jvp` (the plain forms have it).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.ops.policy import Policy

_NHWC = ("NHWC", "HWIO", "NHWC")
_SLICE_BYTES = 4 * 2**20  # per-device activation bytes a slice may hold, see `auto_slices`
MAX_SLICES = 4
MIN_SLICE = 16  # examples per slice per device
WEIGHT_GRADS = ("auto", "conv", "taps")  # config.ops.conv_weight_grad
TRANSPOSE_FORMS = ("native", "adjoint", "subpixel")  # config.ops.conv_transpose, besides "auto"
TAPS_MAX_CHANNELS = 4
_TAPS_MIN_BYTES = 512 * 2**10  # per-device input bytes from which 'auto' takes the taps


def auto_slices(batch: int, activation_bytes: int, devices: int = 1) -> int:
    """How many slices a layer whose larger activation (input or output) is
    ``activation_bytes`` runs on by its size: the smallest power of two that brings each
    device's share under 4 MiB, at most 4, keeping ≥ 16 examples per slice on each device
    and the batch divisible."""
    per_device = activation_bytes / devices
    n = 1
    while n < MAX_SLICES and per_device / n > _SLICE_BYTES:
        n *= 2
    while n > 1 and (batch % (n * devices) or batch // (n * devices) < MIN_SLICE):
        n //= 2
    return n


def resolve(slices: int, batch: int, activation_bytes: int, devices: int = 1) -> int:
    """``slices`` 0 means by size (`auto_slices`); otherwise the largest divisor of the
    batch not above ``slices`` (a phase may see a part of the batch, e.g. lazy R1)."""
    if slices == 0:
        return auto_slices(batch, activation_bytes, devices)
    return max(d for d in range(1, min(slices, batch) + 1) if batch % d == 0)


def use_taps(mode: str, x_shape: tuple[int, ...], itemsize: int = 4, devices: int = 1) -> bool:
    """Whether the weight gradient of ``down`` on an input of ``x_shape`` (NHWC, the whole
    batch) is computed by `taps_kernel_grad`: ``mode`` 'taps' always, 'conv' never,
    'by_size' when the input has ≤ 4 channels and each device's share is ≥ 512 KiB."""
    if mode != "by_size":
        return mode == "taps"
    per_device = math.prod(x_shape) * itemsize / devices
    return x_shape[-1] <= TAPS_MAX_CHANNELS and per_device >= _TAPS_MIN_BYTES


def split(x: jax.Array, n: int, devices: int = 1) -> list[jax.Array]:
    """``n`` slices of the batch: contiguous blocks on one device; strided (slice i holds
    examples i, i+n, i+2n, …) on several, so that each slice stays on every device."""
    if devices == 1:
        size = x.shape[0] // n
        return [x[i * size : (i + 1) * size] for i in range(n)]
    grouped = x.reshape(x.shape[0] // n, n, *x.shape[1:])
    return [grouped[:, i] for i in range(n)]


def join(parts: list[jax.Array], devices: int = 1) -> jax.Array:
    """Inverse of `split`."""
    if devices == 1:
        return jnp.concatenate(parts, axis=0)
    stacked = jnp.stack(parts, axis=1)
    return stacked.reshape(-1, *stacked.shape[2:])


def down(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The 4×4, stride-2, padding-1 convolution that halves H and W."""
    return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=_NHWC)


def up(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The 4×4, stride-2 transposed convolution that doubles H and W (an input-dilated
    convolution; PyTorch's ConvTranspose2d(k=4, s=2, p=1))."""
    return jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)), dimension_numbers=_NHWC)


def adjoint_kernel(kernel: jax.Array) -> jax.Array:
    """T(W): spatially flipped, input and output channels swapped. ``up(·, W)`` is the
    adjoint of ``down(·, T(W))``: ⟨up(x, W), y⟩ = ⟨x, down(y, T(W))⟩; T is its own inverse."""
    return jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)


# Per-axis tap selection of a 4-tap, stride-2 transposed convolution padded to double the
# size: output 2m takes taps (0, 2) at inputs (m−1, m); output 2m+1 takes taps (1, 3) at
# inputs (m, m+1). Row r of phase p says which tap multiplies input m−1+r.
_PHASE_TAPS = np.zeros((2, 3, 4), np.float32)
_PHASE_TAPS[0, 0, 0] = _PHASE_TAPS[0, 1, 2] = 1.0
_PHASE_TAPS[1, 1, 1] = _PHASE_TAPS[1, 2, 3] = 1.0


def subpixel_kernel(kernel: jax.Array) -> jax.Array:
    """(4, 4, C_in, C_out) transposed-conv kernel → (3, 3, C_in, 4·C_out) stride-1 kernel
    whose output channel (a, b, c) is the output pixel (2m+a, 2n+b) of channel c."""
    taps = jnp.asarray(_PHASE_TAPS, kernel.dtype)
    k = jnp.einsum("ark,bcl,klio->rciabo", taps, taps, kernel)
    return k.reshape(3, 3, kernel.shape[2], 4 * kernel.shape[3])


def up_subpixel(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``up`` as a 3×3 convolution to 4× the channels and depth-to-space."""
    b, h, w, _ = x.shape
    c = kernel.shape[3]
    y = jax.lax.conv_general_dilated(
        x, subpixel_kernel(kernel), (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC
    )
    return y.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, c)


def taps_kernel_grad(x: jax.Array, dy: jax.Array) -> jax.Array:
    """∂⟨down(x, W), dy⟩/∂W, (4, 4, C_in, C_out), as one matrix product per kernel tap:
    dW[i, j] = Σ_{b,h,w} x̃[b, 2h+i, 2w+j, :]ᵀ dy[b, h, w, :] with x̃ = x zero-padded by 1."""
    b, h, w, c = dy.shape[0], dy.shape[1], dy.shape[2], x.shape[-1]
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = []
    for i in range(4):
        row = []
        for j in range(4):
            tap = jax.lax.slice(padded, (0, i, j, 0), (b, i + 2 * h - 1, j + 2 * w - 1, c), (1, 2, 2, 1))
            row.append(jnp.einsum("bhwc,bhwo->co", tap, dy))
        rows.append(jnp.stack(row))
    return jnp.stack(rows)


def down_kernel_grad(x: jax.Array, dy: jax.Array, kernel: jax.Array, taps: bool = False) -> jax.Array:
    """∂⟨down(x, W), dy⟩/∂W at ``kernel``: by the taps (`taps_kernel_grad`) or as XLA
    differentiates the convolution."""
    if taps:
        return taps_kernel_grad(x, dy).astype(kernel.dtype)
    return jax.vjp(lambda v: down(x, v), kernel)[1](dy)[0]


def _up_forward(x: jax.Array, kernel: jax.Array, n: int, subpixel: bool, devices: int) -> jax.Array:
    if subpixel:
        return up_subpixel(x, kernel)
    return join([up(part, kernel) for part in split(x, n, devices)], devices) if n > 1 else up(x, kernel)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def up_adjoint(
    x: jax.Array, kernel: jax.Array, n: int = 1, taps: bool = False, subpixel: bool = False, devices: int = 1
) -> jax.Array:
    """``up(x, kernel)`` (on ``n`` batch slices, or as the sub-pixel convolution), with both
    gradients through the adjoint down-convolution, whole: ∂/∂x = down(dy, T(W));
    ∂/∂W = T(∂/∂V ⟨x, down(dy, V)⟩ at V = T(W)), by the taps of ``dy`` when ``taps``."""
    return _up_forward(x, kernel, n, subpixel, devices)


def _up_fwd(x, kernel, n, taps, subpixel, devices):
    return _up_forward(x, kernel, n, subpixel, devices), (x, kernel)


def _up_bwd(n, taps, subpixel, devices, residuals, dy):
    x, kernel = residuals
    adjoint = adjoint_kernel(kernel)
    return down(dy, adjoint), adjoint_kernel(down_kernel_grad(dy, x, adjoint, taps))


up_adjoint.defvjp(_up_fwd, _up_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def down_sliced(x: jax.Array, kernel: jax.Array, n: int, taps: bool = False, devices: int = 1) -> jax.Array:
    """``down(x, kernel)``, whose input gradient (an input-dilated convolution) runs on
    ``n`` batch slices: ∂/∂x = up(dy, T(W)) per slice. The forward and ∂/∂W are whole,
    ∂/∂W by the taps when ``taps`` (`taps_kernel_grad`)."""
    return down(x, kernel)


def _down_fwd(x, kernel, n, taps, devices):
    return down(x, kernel), (x, kernel)


def _down_bwd(n, taps, devices, residuals, dy):
    x, kernel = residuals
    dx = _up_forward(dy, adjoint_kernel(kernel), n, False, devices)
    return dx, down_kernel_grad(x, dy, kernel, taps)


down_sliced.defvjp(_down_fwd, _down_bwd)


def up_conv(x: jax.Array, kernel: jax.Array, policy: Policy) -> jax.Array:
    """``up(x, kernel)`` in the form ``policy`` names (module docstring)."""
    form = policy.conv_transpose
    if form == "native":
        return up(x, kernel)
    b, h, w, c = x.shape
    out = (b, 2 * h, 2 * w, kernel.shape[-1])
    adjoint = form == "adjoint"
    n = (
        resolve(policy.conv_batch_slices, b, activation_bytes(out, (b, h, w, c)), policy.devices)
        if adjoint
        else 1
    )
    # the adjoint's weight gradient is down's, with the output gradient as its input
    taps = adjoint and use_taps(policy.conv_weight_grad, out, jnp.dtype(x.dtype).itemsize, policy.devices)
    return up_adjoint(x, kernel, n, taps, form == "subpixel", policy.devices)


def down_conv(x: jax.Array, kernel: jax.Array, policy: Policy) -> jax.Array:
    """``down(x, kernel)``, its input gradient on batch slices and its weight gradient by
    the taps where ``policy`` says so."""
    b = x.shape[0]
    n = resolve(policy.conv_batch_slices, b, activation_bytes(x.shape), policy.devices)
    taps = use_taps(policy.conv_weight_grad, x.shape, jnp.dtype(x.dtype).itemsize, policy.devices)
    return down_sliced(x, kernel, n, taps, policy.devices) if n > 1 or taps else down(x, kernel)


def activation_bytes(*shapes: tuple[int, ...], itemsize: int = 4) -> int:
    """Bytes of the largest of the given activation shapes."""
    return max(math.prod(s) for s in shapes) * itemsize
