"""StyleGAN2's layers: equalised learning rate, bias-activation, resampling convolution and
modulated convolution (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"), NHWC, with the semantics of NVlabs' stylegan2-ada-pytorch.

Equalised learning rate (Karras et al. 2018, "Progressive Growing of GANs", section 4.1):
a weight is stored as ŵ ~ N(0, 1)/λ and used as w = ŵ · λ/√fan_in, a bias stored as b̂
(its initial value) and used as b = b̂ · λ, for the learning-rate multiplier λ (0.01 in
the mapping network, 1 elsewhere). Adam's update is invariant to the scale of a
parameter, so every layer learns at the same speed whatever its fan-in. Parameters are
stored in exactly that parameterisation, in NVlabs' shapes up to the layout: dense
kernels [in, out] (NVlabs [out, in]), convolution kernels HWIO (NVlabs OIHW).
"""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.ops import upfirdn2d as fir
from gan_jax.ops.grouped_conv import pointwise

_NHWC = ("NHWC", "HWIO", "NHWC")
LRELU_ALPHA = 0.2
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": float(np.sqrt(2.0)), "relu": float(np.sqrt(2.0))}
FIR_TAPS = (1, 3, 3, 1)


def bias_act(
    x: jax.Array,
    b: jax.Array | None = None,
    act: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
) -> jax.Array:
    """y = clip(gain · φ(x + b), −clamp, clamp), the bias on the last (channel) axis.

    φ is the identity ('linear'), ReLU or leaky ReLU with slope 0.2 ('lrelu'). The
    default gain, √2 for the rectifiers and 1 for 'linear', keeps the second moment of
    unit-variance inputs (He et al. 2015). The clamp bounds activations so that reduced
    precision cannot overflow (StyleGAN2-ADA: Karras et al. 2020b, "Training Generative
    Adversarial Networks with Limited Data", which clamps at ±256).
    """
    if b is not None:
        x = x + b.astype(x.dtype)
    if act == "lrelu":
        x = jax.nn.leaky_relu(x, LRELU_ALPHA)
    elif act == "relu":
        x = jax.nn.relu(x)
    elif act != "linear":
        raise ValueError(f"unknown activation {act!r}")
    gain = ACTIVATION_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * jnp.asarray(gain, x.dtype)
    if clamp is not None:
        x = jnp.clip(x, -clamp, clamp)
    return x


def _conv(
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
    correlation (the same finding as `gan_jax.models.layers.conv_transpose_4x4_s2`); the
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
        return _conv(x, w, groups=groups)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups)
        return fir.upfirdn2d(x, f, up=up, padding=(px0, px1, py0, py1), gain=up**2)
    if down > 1 and up == 1:
        x = fir.upfirdn2d(x, f, padding=(px0, px1, py0, py1))
        return _conv(x, w, stride=down, groups=groups)
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
    return _conv(x, w, padding=(py0, px0), groups=groups)


class FullyConnected(nn.Module):
    """Equalised-lr dense layer: y = bias_act(x · (ŵ λ/√fan_in) + b̂ λ).

    ``weight`` [in, out] ~ N(0, 1)/λ; ``bias`` [out] initialised to ``bias_init``
    (1 for the style affines, so styles start near 1).
    """

    features: int
    activation: str = "linear"
    lr_mul: float = 1.0
    bias_init: float = 0.0
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        fan_in = x.shape[-1]
        weight = self.param(
            "weight", lambda k, s: jax.random.normal(k, s) / self.lr_mul, (fan_in, self.features)
        )
        w = weight.astype(x.dtype) * jnp.asarray(self.lr_mul / np.sqrt(fan_in), x.dtype)
        b = None
        if self.use_bias:
            b = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
            b = b.astype(x.dtype) * self.lr_mul if self.lr_mul != 1 else b
        return bias_act(x @ w, b, self.activation)


class Conv2d(nn.Module):
    """Equalised-lr convolution with optional FIR resampling:
    y = bias_act(conv2d_resample(x, ŵ/√(C_in k²)) + b, gain = g_act·gain, clamp = clamp·gain).

    ``weight`` (k, k, C_in, C_out) ~ N(0, 1); ``bias`` zeros. The padding is k//2.
    """

    features: int
    kernel_size: int
    activation: str = "linear"
    use_bias: bool = True
    up: int = 1
    down: int = 1
    conv_clamp: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array, gain: float = 1.0) -> jax.Array:
        k, cin = self.kernel_size, x.shape[-1]
        weight = self.param("weight", nn.initializers.normal(1.0), (k, k, cin, self.features))
        w = (weight * (1.0 / np.sqrt(cin * k * k))).astype(x.dtype)
        f = fir.setup_filter(FIR_TAPS) if self.up > 1 or self.down > 1 else None
        x = conv2d_resample(x, w, f, up=self.up, down=self.down, padding=k // 2)
        b = self.param("bias", nn.initializers.zeros, (self.features,)) if self.use_bias else None
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, self.activation, ACTIVATION_GAIN[self.activation] * gain, clamp)


def demodulation(weight: jax.Array, styles: jax.Array) -> jax.Array:
    """σ_bo⁻¹ = 1/√(Σ_{i,kh,kw} (s_bi · w_{kh,kw,i,o})² + 1e-8) (Karras et al. 2020, eq. 3),
    shape (B, O), computed as s² · Σ_k w² (the same sum, without per-sample weights)."""
    w2 = jnp.sum(jnp.square(weight.astype(jnp.float32)), axis=(0, 1))  # (I, O)
    return jax.lax.rsqrt(jnp.square(styles.astype(jnp.float32)) @ w2 + 1e-8)


def modulated_conv2d(
    x: jax.Array,
    weight: jax.Array,
    styles: jax.Array,
    noise: jax.Array | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: np.ndarray | None = None,
    demodulate: bool = True,
    fused: bool = True,
) -> jax.Array:
    """Modulated convolution with weight demodulation (Karras et al. 2020, section 2.2):

        w'_bkio = s_bi · w_kio,   w''_bkio = w'_bkio · σ_bo⁻¹   (eq. 1 and 3),
        y_b = conv(x_b, w''_b) [+ noise]

    for NHWC ``x`` (B, H, W, I), HWIO ``weight`` (k, k, I, O) and ``styles`` (B, I). Two
    equal computations, chosen by the static ``fused``:

    * fused: the per-sample kernels w''_b as one grouped convolution (groups = B) over
      the batch folded into channels: one kernel per sample, B·k²·I·O weights;
    * non-fused: y_b = σ_b⁻¹ ⊙ conv(s_b ⊙ x_b, w), one shared-kernel convolution between
      two per-channel scalings (conv is linear in x and in w).

    The non-fused form should win on GPU and TPU at training batch sizes: it is one
    dense convolution whose batch dimension maps onto the matrix units, and its weight
    gradient is a single reduction, whereas the B-group convolution does B small
    convolutions, builds B·k²·I·O per-sample weights, and its weight gradient is B
    separate reductions. The fused form saves the two element-wise passes over the
    activations, which can pay off for batch 1 and, with cuDNN's grouped kernels, in
    NVlabs' GPU inference. ``benchmarks/modconv.py`` measures both; on a 2-core CPU the
    non-fused form was 6× (forward) and 17–100× (forward + backward) faster at batch
    8–32 and as fast at batch 1 (benchmarks/results/modconv_cpu.json).

    In reduced precision with demodulation, w is first scaled by 1/(√(I k²) max|w_o|)
    and s by 1/max|s_b| (NVlabs' pre-normalisation against float16 overflow); the
    demodulation cancels both, up to the 1e-8.
    """
    batch, cin = x.shape[0], x.shape[-1]
    kh, kw, _, cout = weight.shape
    weight = weight.astype(jnp.float32)
    styles = styles.astype(jnp.float32)
    if x.dtype != jnp.float32 and demodulate:
        weight = weight * (
            1.0 / np.sqrt(cin * kh * kw) / jnp.max(jnp.abs(weight), axis=(0, 1, 2), keepdims=True)
        )
        styles = styles / jnp.max(jnp.abs(styles), axis=1, keepdims=True)
    dcoefs = demodulation(weight, styles) if demodulate else None  # (B, O)

    if not fused:
        x = x * styles.astype(x.dtype)[:, None, None, :]
        x = conv2d_resample(x, weight.astype(x.dtype), resample_filter, up=up, padding=padding)
        if demodulate:
            x = x * dcoefs.astype(x.dtype)[:, None, None, :]
        return x if noise is None else x + noise.astype(x.dtype)

    w = weight[None] * styles[:, None, None, :, None]  # (B, k, k, I, O)
    if demodulate:
        w = w * dcoefs[:, None, None, None, :]
    # Batch folded into channels, sample-major: group b reads channels [bI, (b+1)I) and
    # writes [bO, (b+1)O).
    h, wd = x.shape[1:3]
    x = x.transpose(1, 2, 0, 3).reshape(1, h, wd, batch * cin)
    w = w.transpose(1, 2, 3, 0, 4).reshape(kh, kw, cin, batch * cout)
    x = conv2d_resample(x, w.astype(x.dtype), resample_filter, up=up, padding=padding, groups=batch)
    x = x.reshape(x.shape[1], x.shape[2], batch, cout).transpose(2, 0, 1, 3)
    return x if noise is None else x + noise.astype(x.dtype)


def clamp_or_none(conv_clamp: float | None) -> float | None:
    """The config's conv_clamp (0 = off) as bias_act's clamp (None = off)."""
    return float(conv_clamp) if conv_clamp else None


def block_resolutions(resolution: int) -> list[int]:
    """4, 8, …, R; `ConfigError` unless R is a power of two from 4 to 1024."""
    if resolution < 4 or resolution > 1024 or resolution & (resolution - 1):
        raise ConfigError(
            f"StyleGAN2 cannot make {resolution}x{resolution} images; "
            f"dataset.resolution must be a power of two from 4 to 1024"
        )
    return [2**i for i in range(2, int(math.log2(resolution)) + 1)]


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps of the blocks at ``resolution``: min(channel_base // resolution,
    channel_max); `ConfigError` where that leaves none."""
    channels = min(channel_base // resolution, channel_max)
    if channels < 1:
        raise ConfigError(
            f"model.stylegan2.channel_base={channel_base} leaves no channels at {resolution}x{resolution} "
            f"(channel_base // resolution); raise it to at least {resolution}"
        )
    return channels


def reduced_precision_from(resolution: int, num_bf16_res: int) -> int:
    """Lowest block resolution computed in bfloat16: the ``num_bf16_res`` highest, never 4×4."""
    return max(2 ** (int(math.log2(resolution)) + 1 - num_bf16_res), 8)
