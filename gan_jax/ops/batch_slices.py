"""DCGAN's 4×4 stride-2 transposed (input-dilated) convolutions computed over slices of
the batch.

A convolution is independent per example, so it can run on ``n`` slices of the batch,
the outputs concatenated: the same function, bit for bit. Sliced here are the
input-dilated convolutions: G's transposed convolutions (`up_sliced`, forward) and the
input gradients of D's strided convolutions (`down_sliced`, ∂/∂x = up(dy, T(W))). The
strided forwards and the weight gradients stay whole.

Why: XLA:CPU runs input-dilated convolutions with its generic (Eigen) kernel, and its
time does not grow linearly with the batch once a layer's activations outgrow the caches.
`benchmarks/profile_step.py` on DCGAN-32 at batch 128 (2-core AMD EPYC) found the
transposed convolution 8×8×128 → 16×16×64 (G's second layer, and the input gradient of
D's second layer) at about 6× its batch-64 time; on slices it costs about 2×. The strided
convolutions and the weight gradients run in XNNPACK's kernels (YNNPACK), where slicing
did not help. docs/benchmarks.md has the measurements.

Slices: contiguous blocks on one device; on several, strided (example ``i`` in slice
``i mod n``, the batch axis reshaped to ``(B/n, n)``) so that a batch sharded over the
devices in contiguous blocks stays sharded and each slice is local to every device.

The weight gradient of a layer whose convolution input has few channels (D's first
layer, and G's last through its adjoint) can instead be computed as 16 matrix products
over the strided taps of the input (`taps_kernel_grad`), one per kernel position:

    ∂L/∂W[i, j] = Σ_{b,h,w} x̃[b, 2h+i, 2w+j, :]ᵀ · ∂L/∂y[b, h, w, :],   x̃ = x zero-padded by 1.

XLA:CPU turns a weight gradient into a convolution whose batch is the input channels,
after transposing both operands; with 1–4 channels that convolution is nearly all
transposition. `use_taps` makes the choice (``ops.conv_weight_grad``: 'auto', 'conv',
'taps'); 'auto' takes the taps on the CPU for inputs of at most 4 channels holding at
least 512 KiB per device, where they measured faster (docs/benchmarks.md).

`down_sliced` and `up_sliced` are `jax.custom_vjp` functions: they support reverse-mode
differentiation to any order (R1 penalties differentiate D's input gradient), not
`jax.jvp`.
"""

import functools
import math

import jax
import jax.numpy as jnp

_NHWC = ("NHWC", "HWIO", "NHWC")
_SLICE_BYTES = 4 * 2**20  # per-device activation bytes a slice may hold, see `auto_slices`
MAX_SLICES = 4
MIN_SLICE = 16  # examples per slice per device
WEIGHT_GRADS = ("auto", "conv", "taps")
TAPS_MAX_CHANNELS = 4
_TAPS_MIN_BYTES = 512 * 2**10  # per-device input bytes from which 'auto' takes the taps


def auto_slices(batch: int, activation_bytes: int) -> int:
    """How many slices 'auto' uses for a layer whose larger activation (input or output)
    is ``activation_bytes``: 1 off the CPU; on the CPU the smallest power of two that
    brings each device's share under 4 MiB, at most 4, keeping ≥ 16 examples per slice
    on each device and the batch divisible. Chosen by the per-layer timings in
    docs/benchmarks.md."""
    if jax.default_backend() != "cpu":
        return 1
    devices = jax.device_count()
    per_device = activation_bytes / devices
    n = 1
    while n < MAX_SLICES and per_device / n > _SLICE_BYTES:
        n *= 2
    while n > 1 and (batch % (n * devices) or batch // (n * devices) < MIN_SLICE):
        n //= 2
    return n


def resolve(slices: int, batch: int, activation_bytes: int) -> int:
    """``slices`` 0 means 'auto' (`auto_slices`); otherwise the largest divisor of the
    batch not above ``slices`` (a phase may see a part of the batch, e.g. lazy R1)."""
    if slices == 0:
        return auto_slices(batch, activation_bytes)
    return max(d for d in range(1, min(slices, batch) + 1) if batch % d == 0)


def _one_device() -> bool:
    return jax.device_count() == 1


def split(x: jax.Array, n: int) -> list[jax.Array]:
    """``n`` slices of the batch: contiguous blocks on one device; strided (slice i holds
    examples i, i+n, i+2n, …) on several, so that each slice stays on every device."""
    if _one_device():
        size = x.shape[0] // n
        return [x[i * size : (i + 1) * size] for i in range(n)]
    grouped = x.reshape(x.shape[0] // n, n, *x.shape[1:])
    return [grouped[:, i] for i in range(n)]


def join(parts: list[jax.Array]) -> jax.Array:
    """Inverse of `split`."""
    if _one_device():
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


def use_taps(mode: str, x_shape: tuple[int, ...], itemsize: int = 4) -> bool:
    """Whether the weight gradient of ``down`` on an input of ``x_shape`` (NHWC, the whole
    batch) is computed by `taps_kernel_grad`: ``mode`` 'taps' always, 'conv' never, 'auto'
    on the CPU when the input has ≤ 4 channels and each device's share is ≥ 512 KiB."""
    if mode != "auto":
        return mode == "taps"
    per_device = math.prod(x_shape) * itemsize / jax.device_count()
    return (
        jax.default_backend() == "cpu" and x_shape[-1] <= TAPS_MAX_CHANNELS and per_device >= _TAPS_MIN_BYTES
    )


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


def up_in_slices(x: jax.Array, kernel: jax.Array, n: int) -> jax.Array:
    """``up(x, kernel)`` computed on ``n`` batch slices."""
    return join([up(part, kernel) for part in split(x, n)]) if n > 1 else up(x, kernel)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def down_sliced(x: jax.Array, kernel: jax.Array, n: int, taps: bool = False) -> jax.Array:
    """``down(x, kernel)``, whose input gradient (an input-dilated convolution) runs on
    ``n`` batch slices: ∂/∂x = up(dy, T(W)) per slice. The forward and ∂/∂W are whole,
    ∂/∂W by the taps when ``taps`` (`taps_kernel_grad`)."""
    return down(x, kernel)


def _down_fwd(x, kernel, n, taps):
    return down(x, kernel), (x, kernel)


def _down_bwd(n, taps, residuals, dy):
    x, kernel = residuals
    dx = up_in_slices(dy, adjoint_kernel(kernel), n)
    return dx, down_kernel_grad(x, dy, kernel, taps)


down_sliced.defvjp(_down_fwd, _down_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def up_sliced(x: jax.Array, kernel: jax.Array, n: int, taps: bool = False) -> jax.Array:
    """``up(x, kernel)`` on ``n`` batch slices, with both gradients through the adjoint
    down-convolution, whole (XLA:CPU differentiates the input-dilated form slowly):
    ∂/∂x = down(dy, T(W)); ∂/∂W = T(∂/∂V ⟨x, down(dy, V)⟩ at V = T(W)), computed by the
    taps of ``dy`` when ``taps``."""
    return up_in_slices(x, kernel, n)


def _up_fwd(x, kernel, n, taps):
    return up_in_slices(x, kernel, n), (x, kernel)


def _up_bwd(n, taps, residuals, dy):
    x, kernel = residuals
    adjoint = adjoint_kernel(kernel)
    return down(dy, adjoint), adjoint_kernel(down_kernel_grad(dy, x, adjoint, taps))


up_sliced.defvjp(_up_fwd, _up_bwd)


def activation_bytes(*shapes: tuple[int, ...], itemsize: int = 4) -> int:
    """Bytes of the largest of the given activation shapes."""
    return max(math.prod(s) for s in shapes) * itemsize
