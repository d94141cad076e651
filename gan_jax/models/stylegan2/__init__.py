"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
configuration F as in NVlabs' stylegan2-ada-pytorch: a skip-architecture generator with
weight demodulation and a residual discriminator.

Generator = mapping ∘ synthesis:

* mapping: z normalised to unit second moment (and, when class-conditional, a class
  embedding normalised the same way, concatenated), ``mapping_layers`` equalised-lr
  dense layers with leaky ReLU and learning-rate multiplier ``mapping_lr_mul`` → w,
  broadcast to the ``num_ws`` = 2·log₂R − 2 style vectors the synthesis layers read;
  truncation w ← w̄ + ψ(w − w̄) towards the running mean w̄ (the ``w_avg`` collection,
  updated in training as w̄ ← mean_batch(w) + β(w̄ − mean_batch(w)));
* synthesis: a learned 4×4 constant, then per resolution two modulated 3×3
  convolutions (the first up-sampling ×2) with per-pixel noise and a modulated 1×1
  ToRGB without demodulation; the images of the resolutions add up through ×2 FIR
  up-sampling (the "skip" generator, paper figure 7).

Style mixing regularisation (StyleGAN, Karras et al. 2019, section 3.1): in
training, with probability ``style_mixing_prob`` the styles from layer ``cutoff`` ~
U{1, …, num_ws − 1} on come from a second latent z₂ ~ N(0, I) (``mixing`` rng).

Discriminator (`gan_jax.models.stylegan2.discriminator`): residual blocks with FIR
down-sampling, minibatch standard deviation, and projection conditioning.

Channels at resolution r: min(channel_base // r, channel_max). The ``num_bf16_res``
highest resolutions compute in bfloat16 (NVlabs uses float16 there); every
convolution clamps its output to ±``conv_clamp`` (0: off), as NVlabs' training config
does with 256.

Variables: ``params`` (NVlabs' parameters, in its parameterisation), ``w_avg`` (w̄)
and ``noise_const`` (each layer's fixed noise image, drawn at ``init`` from the
``params`` rng). rngs: ``noise`` (per-pixel noise, noise_mode 'random') and ``mixing``.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.ops import upfirdn2d as fir
from gan_jax.models.stylegan2.discriminator import Discriminator
from gan_jax.models.stylegan2.layers import (
    FIR_TAPS,
    FullyConnected,
    bias_act,
    block_resolutions,
    channels_at,
    clamp_or_none,
    modulated_conv2d,
    reduced_precision_from,
)
from gan_jax.models.stylegan2.mapping import MappingNetwork

__all__ = ["Discriminator", "Generator", "MappingNetwork", "SynthesisNetwork", "layout", "num_ws"]

NOISE_MODES = ("random", "const", "none")
FUSED_MODCONV = ("fused", "nonfused", "nvlabs")


def layout(resolution: int) -> list[int]:
    """The block resolutions 4, 8, …, R (R a power of two from 4 to 1024)."""
    return block_resolutions(resolution)


def num_ws(resolution: int) -> int:
    """Style vectors the synthesis network reads: 2 per block (1 at 4×4) and the last ToRGB."""
    return 2 * int(math.log2(resolution)) - 2


def use_fused(setting: str, train: bool, dtype, batch: int) -> bool:
    """Whether a block runs `modulated_conv2d` fused: 'fused', 'nonfused', or 'nvlabs' (NVlabs'
    rule: fused outside training, in float32 or for a single sample). The run decides which
    (`gan_jax.ops.policy`: NVlabs' rule on a GPU, non-fused elsewhere)."""
    if setting == "nvlabs":
        return not train and (jnp.dtype(dtype) == jnp.float32 or batch == 1)
    return setting == "fused"


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution [×2 up-sampling], noise, bias, leaky ReLU:

        y = clip(√2 · lrelu(modconv(x, w, A(w)) + s_n · n + b), ±conv_clamp)

    A is the style affine (bias initialised to 1); n is N(0, 1) per pixel, shared by the
    channels, scaled by the learned ``noise_strength`` s_n (initialised to 0).
    """

    features: int
    size: tuple[int, int]  # (height, width) of the layer's output, and of its noise image
    up: int = 1
    conv_clamp: float | None = None
    kernel_size: int = 3

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array, noise_mode: str, fused: bool) -> jax.Array:
        k, (rh, rw) = self.kernel_size, self.size
        styles = FullyConnected(x.shape[-1], bias_init=1.0, name="affine")(w)
        weight = self.param("weight", nn.initializers.normal(1.0), (k, k, x.shape[-1], self.features))
        noise_const = self.variable(
            "noise_const", "noise_const", lambda: jax.random.normal(self.make_rng("params"), (rh, rw))
        )
        strength = self.param("noise_strength", nn.initializers.zeros, ())
        noise = None
        if noise_mode == "random":
            noise = jax.random.normal(self.make_rng("noise"), (x.shape[0], rh, rw, 1)) * strength
        elif noise_mode == "const":
            noise = (noise_const.value * strength)[None, :, :, None]
        f = fir.setup_filter(FIR_TAPS) if self.up > 1 else None
        x = modulated_conv2d(
            x, weight, styles, noise, up=self.up, padding=k // 2, resample_filter=f, fused=fused
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return bias_act(x, bias, "lrelu", clamp=self.conv_clamp)


class ToRGB(nn.Module):
    """Modulated 1×1 convolution to the image channels, not demodulated:
    y = clip(modconv(x, ŵ, A(w)/√C_in) + b, ±conv_clamp)."""

    features: int
    conv_clamp: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array, fused: bool) -> jax.Array:
        cin = x.shape[-1]
        styles = FullyConnected(cin, bias_init=1.0, name="affine")(w) * (1.0 / np.sqrt(cin))
        weight = self.param("weight", nn.initializers.normal(1.0), (1, 1, cin, self.features))
        x = modulated_conv2d(x, weight, styles, demodulate=False, fused=fused)
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return bias_act(x, bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: [4×4 constant | conv0 ×2 up], conv1, and
    img ← up2(img) + ToRGB(x). Reads 2 styles (1 at 4×4) plus the next one for ToRGB."""

    features: int
    resolution: int
    img_channels: int
    first: bool
    base: tuple[int, int] = (4, 4)  # (height, width) of the first block: 4×4, or e.g. 3×4
    dtype: jnp.dtype = jnp.float32
    conv_clamp: float | None = None
    fused_modconv: str = "nonfused"  # 'fused' | 'nonfused' | 'nvlabs', see use_fused

    @nn.compact
    def __call__(self, x, img, ws, noise_mode: str, train: bool):
        fused = use_fused(self.fused_modconv, train, self.dtype, ws.shape[0])
        size = (self.resolution * self.base[0] // 4, self.resolution * self.base[1] // 4)
        layer = lambda up, name: SynthesisLayer(  # noqa: E731
            self.features,
            size,
            up=up,
            conv_clamp=self.conv_clamp,
            name=name,
        )
        if self.first:
            const = self.param("const", nn.initializers.normal(1.0), (*self.base, self.features))
            x = jnp.broadcast_to(const.astype(self.dtype), (ws.shape[0],) + const.shape)
            x = layer(1, "conv1")(x, ws[:, 0], noise_mode, fused)
        else:
            x = layer(2, "conv0")(x.astype(self.dtype), ws[:, 0], noise_mode, fused)
            x = layer(1, "conv1")(x, ws[:, 1], noise_mode, fused)
        if img is not None:
            img = fir.upsample2d(img, fir.setup_filter(FIR_TAPS))
        y = ToRGB(self.img_channels, self.conv_clamp, name="torgb")(x, ws[:, -1], fused)
        y = y.astype(jnp.float32)
        return x, (y if img is None else img + y)


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) → images (B, H, W, C), float32, nominally in [-1, 1]; (H, W) =
    R/4 · ``base``: R × R by default, R·3/4 × R for base (3, 4)."""

    resolution: int
    img_channels: int = 3
    channel_base: int = 32768
    channel_max: int = 512
    num_bf16_res: int = 0
    conv_clamp: float | None = None
    fused_modconv: str = "nonfused"  # 'fused' | 'nonfused' | 'nvlabs', see use_fused
    base: tuple[int, int] = (4, 4)  # (height, width) of the first block; images are R/4 times it

    @nn.compact
    def __call__(self, ws: jax.Array, noise_mode: str = "const", train: bool = False) -> jax.Array:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode={noise_mode!r} must be one of {NOISE_MODES}")
        ws = ws.astype(jnp.float32)
        low = reduced_precision_from(self.resolution, self.num_bf16_res)
        x = img = None
        for i, res in enumerate(layout(self.resolution)):
            # Block b4 reads ws 0 and, for ToRGB, 1; b8 reads 1, 2 and 3; b16 3, 4 and 5; …
            start = 0 if res == 4 else 2 * i - 1
            count = 2 if res == 4 else 3
            block = SynthesisBlock(
                channels_at(res, self.channel_base, self.channel_max),
                res,
                self.img_channels,
                first=res == 4,
                base=tuple(self.base),
                dtype=jnp.bfloat16 if res >= low else jnp.float32,
                conv_clamp=self.conv_clamp,
                fused_modconv=self.fused_modconv,
                name=f"b{res}",
            )
            x, img = block(x, img, ws[:, start : start + count], noise_mode, train)
        return img


class Generator(nn.Module):
    """StyleGAN2 generator: z (B, z_dim) [+ labels] → (B, R, R, C) images.

    Labels: int (B,) class ids (one-hot, as NVlabs' c) or float (B, num_classes) class
    weights; ignored when ``num_classes`` is 0. Methods for ``apply(..., method=)``:
    ``mapping`` (z → ws), ``styles`` (ws as the call uses them: mapping, then style
    mixing in training) and ``synthesis`` (ws → images).
    """

    resolution: int = 32
    channels: int = 3
    num_classes: int = 0
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    style_mixing_prob: float = 0.9
    w_avg_beta: float = 0.995
    conv_clamp: float | None = 256.0  # 0 or None: off
    num_bf16_res: int = 0
    fused_modconv: str = "nonfused"  # 'fused' | 'nonfused' | 'nvlabs', see use_fused
    base: tuple[int, int] = (4, 4)  # first block (height, width); (3, 4) makes R·3/4 × R images

    def setup(self):
        if self.fused_modconv not in FUSED_MODCONV:
            raise ValueError(f"fused_modconv={self.fused_modconv!r} must be one of {FUSED_MODCONV}")
        self.num_ws = num_ws(self.resolution)
        self.mapping_network = MappingNetwork(
            self.w_dim,
            self.num_classes,
            self.num_ws,
            self.mapping_layers,
            self.mapping_lr_mul,
            self.w_avg_beta,
        )
        self.synthesis_network = SynthesisNetwork(
            self.resolution,
            self.channels,
            self.channel_base,
            self.channel_max,
            self.num_bf16_res,
            clamp_or_none(self.conv_clamp),
            self.fused_modconv,
            tuple(self.base),
        )

    def mapping(
        self,
        z: jax.Array,
        labels: jax.Array | None = None,
        truncation_psi=1.0,
        truncation_cutoff: int | None = None,
        train: bool = False,
    ) -> jax.Array:
        """ws (B, num_ws, w_dim); in training with ``w_avg`` mutable, w̄ is updated first."""
        if z.shape[-1] != self.z_dim:
            raise ValueError(f"generator built for z_dim={self.z_dim} got z of shape {z.shape}")
        return self.mapping_network(z, labels, truncation_psi, truncation_cutoff, update_w_avg=train)

    def styles(
        self,
        z: jax.Array,
        labels: jax.Array | None = None,
        truncation_psi=1.0,
        truncation_cutoff: int | None = None,
        train: bool = False,
    ) -> jax.Array:
        """`mapping`, then in training style mixing (NVlabs' ``run_G``): with probability
        p, ws[:, cutoff:] ← mapping(z₂)[:, cutoff:], cutoff ~ U{1, …, num_ws − 1},
        z₂ ~ N(0, I); otherwise cutoff = num_ws. The second mapping leaves w̄ alone."""
        ws = self.mapping(z, labels, truncation_psi, truncation_cutoff, train)
        if not train or self.style_mixing_prob <= 0:
            return ws
        k_cut, k_coin, k_z = jax.random.split(self.make_rng("mixing"), 3)
        cutoff = jax.random.randint(k_cut, (), 1, self.num_ws)
        mix = jax.random.uniform(k_coin, ()) < self.style_mixing_prob
        cutoff = jnp.where(mix, cutoff, self.num_ws)
        z2 = jax.random.normal(k_z, z.shape, z.dtype)
        ws2 = self.mapping_network(z2, labels, truncation_psi, truncation_cutoff, update_w_avg=False)
        return jnp.where(jnp.arange(self.num_ws)[None, :, None] >= cutoff, ws2, ws)

    def synthesis(self, ws: jax.Array, noise_mode: str | None = None, train: bool = False) -> jax.Array:
        """Images from ws; noise_mode None: 'random' in training, else 'const'."""
        if noise_mode is None:
            noise_mode = "random" if train else "const"
        return self.synthesis_network(ws, noise_mode, train)

    def __call__(
        self,
        z: jax.Array,
        labels: jax.Array | None = None,
        train: bool = True,
        truncation_psi=1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str | None = None,
    ) -> jax.Array:
        ws = self.styles(z, labels, truncation_psi, truncation_cutoff, train)
        return self.synthesis(ws, noise_mode, train)
