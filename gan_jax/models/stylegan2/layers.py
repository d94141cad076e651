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

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.ops import upfirdn2d as fir
from gan_jax.ops.resample import conv2d_resample

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


def _prenormalised(x: jax.Array, weight: jax.Array, styles: jax.Array, demodulate: bool):
    """(weight, styles) in float32; in reduced precision with demodulation, w scaled by
    1/(√(I k²) max|w_o|) and s by 1/max|s_b| (NVlabs' guard against float16 overflow), which
    the demodulation cancels up to its 1e-8."""
    kh, kw, cin, _ = weight.shape
    weight, styles = weight.astype(jnp.float32), styles.astype(jnp.float32)
    if x.dtype != jnp.float32 and demodulate:
        weight = weight * (
            1.0 / np.sqrt(cin * kh * kw) / jnp.max(jnp.abs(weight), axis=(0, 1, 2), keepdims=True)
        )
        styles = styles / jnp.max(jnp.abs(styles), axis=1, keepdims=True)
    return weight, styles


def _grouped_per_sample(x, weight, styles, dcoefs, up, padding, resample_filter) -> jax.Array:
    """The per-sample kernels w''_b as one grouped convolution over the batch folded into
    channels, sample-major: group b reads channels [bI, (b+1)I) and writes [bO, (b+1)O)."""
    batch, h, wd, cin = x.shape
    kh, kw, _, cout = weight.shape
    w = weight[None] * styles[:, None, None, :, None]  # (B, k, k, I, O)
    if dcoefs is not None:
        w = w * dcoefs[:, None, None, None, :]
    x = x.transpose(1, 2, 0, 3).reshape(1, h, wd, batch * cin)
    w = w.transpose(1, 2, 3, 0, 4).reshape(kh, kw, cin, batch * cout)
    x = conv2d_resample(x, w.astype(x.dtype), resample_filter, up=up, padding=padding, groups=batch)
    return x.reshape(x.shape[1], x.shape[2], batch, cout).transpose(2, 0, 1, 3)


def _scaled_shared(x, weight, styles, dcoefs, up, padding, resample_filter) -> jax.Array:
    """σ_b⁻¹ ⊙ conv(s_b ⊙ x_b, w): one shared-kernel convolution between two per-channel
    scalings (conv is linear in x and in w)."""
    x = x * styles.astype(x.dtype)[:, None, None, :]
    x = conv2d_resample(x, weight.astype(x.dtype), resample_filter, up=up, padding=padding)
    return x if dcoefs is None else x * dcoefs.astype(x.dtype)[:, None, None, :]


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
    equal computations, chosen by the static ``fused`` (the run's ops policy,
    ``ops.fused_modconv``): fused, the per-sample kernels as one grouped convolution
    (B·k²·I·O weights); non-fused, one shared-kernel convolution between two per-channel
    scalings. docs/benchmarks.md compares them (``benchmarks/modconv.py``).
    """
    weight, styles = _prenormalised(x, weight, styles, demodulate)
    dcoefs = demodulation(weight, styles) if demodulate else None  # (B, O)
    form = _grouped_per_sample if fused else _scaled_shared
    x = form(x, weight, styles, dcoefs, up, padding, resample_filter)
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
