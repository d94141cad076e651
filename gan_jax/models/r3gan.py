"""R3GAN's generator and discriminator (Huang, Gokaslan, Kuleshov & Tompkin 2024, "The GAN is
dead; long live the GAN! A Modern GAN Baseline", section 3 and figure 3), as in the
authors' brownvc/R3GAN.

Both networks are stacks of stages, one per resolution 4, 8, …, R; a stage is a transition
layer and residual blocks, with no normalisation layers. Widths, blocks and groups are
listed per stage in resolution order (``stage_widths`` …, 4×4 first); the discriminator
reads them reversed.

Residual block (an inverted bottleneck, ResNeXt-style grouped 3×3 convolution):

    y = conv1×1_{C→eC}(x)                        (e = ``expansion``)
    y = conv3×3_{eC→eC, groups}(act(y + b₁))
    x ← x + conv1×1_{eC→C}(act(y + b₂))          act = leaky ReLU, slope 0.2

Fix-up initialisation, no normalisation: convolution kernels are drawn N(0, g²/fan_in),
the block's first two with g = √(2/(1+0.2²)) · L^(−1/4) for L blocks in the whole network
(the variance of a residual sum of L branches stays bounded), its last with g = 0, so
every block starts as the identity and the network as its shortcut path. Every other
layer has g = 1. Weights are used as stored (no run-time equalised learning rate), and
only the activations carry biases.

    Generator:  z (‖ embed(c)) → basis: B ⊙ linear(z), B a learned 4×4×C tensor
                → blocks → [1×1 conv if the width changes → ×2 up] → blocks → … → 1×1 conv
    Discriminator: 1×1 conv → blocks → [÷2 down → 1×1 conv if the width changes]
                → … → blocks → basis: depthwise 4×4 conv (valid) → linear to 1 [or E]

Resampling is bilinear-like FIR filtering with [1, 3, 3, 1] (`upfirdn2d`, gain 4 on the
way up). The generator's output is linear (no tanh). Class conditioning: the generator
concatenates a linear embedding of the one-hot class (size ``embed_dim``, default z_dim)
to z; the discriminator projects its E-dimensional output (E = ``embed_dim``, default its
4×4 width) onto a linear class embedding, D(x, c) = ⟨out(x), embed(c)⟩, embed initialised
with std 1/√E · 1/√classes.

``num_bf16_res`` > 0 computes the stages at the N highest resolutions in bfloat16 (the
reference's "FP16" stages are bfloat16); parameters stay float32.
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.ops import upfirdn2d
from gan_jax.ops.grouped_conv import grouped_conv
from gan_jax.models.stylegan2.layers import block_resolutions


ACT_GAIN = math.sqrt(2.0 / (1.0 + 0.2**2))  # He gain of leaky ReLU(0.2)
FILTER = (1.0, 3.0, 3.0, 1.0)  # [1, 2, 1] convolved with [1, 1]
GROUP_WIDTH = 16  # channels per group in the expanded 3×3 convolution (every preset's ratio)


def layout(resolution: int) -> list[int]:
    """The stage resolutions 4, 8, …, R (R a power of two from 4 to 1024)."""
    return block_resolutions(resolution)


def stage_plan(
    resolution: int,
    width: int,
    widths: Sequence[int],
    blocks: Sequence[int],
    groups: Sequence[int],
    expansion: int,
) -> tuple[list[int], list[int], list[int]]:
    """Per-stage (widths, blocks, groups) in resolution order, from the fields; empty fields
    default to ``width`` everywhere, 2 blocks per stage and groups of 16 expanded channels."""
    n = len(layout(resolution))
    widths = list(widths) or [width] * n
    blocks = list(blocks) or [2] * n
    groups = list(groups) or [max(1, w * expansion // GROUP_WIDTH) for w in widths]
    for name, values in (("stage_widths", widths), ("stage_blocks", blocks), ("stage_groups", groups)):
        if len(values) != n:
            raise ConfigError(
                f"model.{name} has {len(values)} entries; {resolution}px images "
                f"need one per stage resolution {layout(resolution)}"
            )
    for w, g in zip(widths, groups):
        if w <= 0 or g <= 0 or (w * expansion) % g:
            raise ConfigError(
                f"R3GAN stage of width {w} x expansion {expansion} cannot split "
                f"into {g} groups (model.r3gan.stage_widths / stage_groups)"
            )
    return widths, blocks, groups


def _init(gain: float) -> nn.initializers.Initializer:
    """N(0, gain² / fan_in), fan_in = input channels per group × kernel area (HWIO kernels)."""

    def init(key, shape, dtype=jnp.float32):
        fan_in = int(np.prod(shape[:-1]))
        if gain == 0.0:
            return jnp.zeros(shape, dtype)
        return jax.random.normal(key, shape, dtype) * (gain / math.sqrt(fan_in))

    return init


class Conv(nn.Module):
    """A bias-free k×k convolution ('same' padding), kernel cast to the input's dtype;
    through `grouped_conv` in the run's ``form`` (`gan_jax.ops.policy`; 1×1 ones as matmuls)."""

    features: int
    kernel_size: int = 1
    groups: int = 1
    gain: float = 1.0
    form: str = "native"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", _init(self.gain), (k, k, x.shape[-1] // self.groups, self.features))
        return grouped_conv(x, kernel.astype(x.dtype), self.groups, (k - 1) // 2, self.form)


class Linear(nn.Module):
    """A bias-free dense layer, N(0, gain²/fan_in)."""

    features: int
    gain: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", _init(self.gain), (x.shape[-1], self.features))
        return x @ kernel.astype(x.dtype)


class BiasedActivation(nn.Module):
    """leaky_relu(x + b, 0.2), b initialised to 0."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
        return nn.leaky_relu(x + bias.astype(x.dtype), 0.2)


class ResidualBlock(nn.Module):
    """x + conv1×1(act(conv3×3_grouped(act(conv1×1(x))))), last conv initialised to zero."""

    expansion: int
    groups: int
    total_blocks: int  # L, blocks in the whole network (fix-up scaling)
    kernel_size: int = 3
    grouped_conv: str = "native"  # the grouped convolution's form (`gan_jax.ops.grouped_conv`)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        gain = ACT_GAIN * self.total_blocks ** (-1.0 / 4.0)  # L^(−1/(2m−2)), m = 3 layers
        y = Conv(c * self.expansion, 1, gain=gain, name="conv1")(x)
        y = Conv(
            c * self.expansion, self.kernel_size, self.groups, gain=gain, form=self.grouped_conv, name="conv2"
        )(BiasedActivation(name="act1")(y))
        y = Conv(c, 1, gain=0.0, name="conv3")(BiasedActivation(name="act2")(y))
        return x + y


def _one_hot(labels: jax.Array, num_classes: int, dtype) -> jax.Array:
    """Int class ids (B,) → one-hot; float (B, classes) weights pass through."""
    if labels.ndim == 2:
        return labels.astype(dtype)
    return jax.nn.one_hot(labels, num_classes, dtype=dtype)


def _dtypes(n: int, num_bf16_res: int, reverse: bool) -> list:
    """Compute dtype of each stage in resolution order (bf16 for the highest N)."""
    d = [jnp.float32] * (n - num_bf16_res) + [jnp.bfloat16] * min(num_bf16_res, n)
    return d[::-1] if reverse else d


class Generator(nn.Module):
    """z (B, z_dim) [, labels] → images (B, H, W, channels), float32, unbounded; (H, W) =
    R/4 · ``base`` (R × R by default)."""

    resolution: int
    channels: int
    width: int = 256  # every stage's width when stage_widths is empty
    num_classes: int = 0
    z_dim: int = 64
    stage_widths: Sequence[int] = ()
    stage_blocks: Sequence[int] = ()
    stage_groups: Sequence[int] = ()
    expansion: int = 2
    embed_dim: int = 0  # class embedding size (0: z_dim)
    num_bf16_res: int = 0
    grouped_conv: str = "native"  # the form of the grouped convolutions (`gan_jax.ops.policy`)
    base: tuple[int, int] = (4, 4)  # the basis's (height, width); images are R/4 times it

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
        widths, blocks, groups = stage_plan(
            self.resolution,
            self.width,
            self.stage_widths,
            self.stage_blocks,
            self.stage_groups,
            self.expansion,
        )
        total = sum(blocks)
        x = z.astype(jnp.float32)
        if self.num_classes:
            embed = self.embed_dim or self.z_dim
            x = jnp.concatenate(
                [x, Linear(embed, name="embed")(_one_hot(labels, self.num_classes, jnp.float32))], axis=-1
            )
        f = upfirdn2d.setup_filter(FILTER)
        for i, (w, n, g, dt) in enumerate(
            zip(widths, blocks, groups, _dtypes(len(widths), self.num_bf16_res, False))
        ):
            x = x.astype(dt)
            if i == 0:  # generative basis
                basis = self.param("basis", nn.initializers.normal(1.0), (*self.base, w))
                x = basis.astype(dt)[None] * Linear(w, name="stage0_linear")(x)[:, None, None, :]
            else:
                if x.shape[-1] != w:
                    x = Conv(w, 1, name=f"stage{i}_transition")(x)
                x = upfirdn2d.upsample2d(x, f)
            for j in range(n):
                x = ResidualBlock(
                    self.expansion, g, total, grouped_conv=self.grouped_conv, name=f"stage{i}_block{j}"
                )(x)
        return Conv(self.channels, 1, name="aggregate")(x).astype(jnp.float32)


class Discriminator(nn.Module):
    """images (B, H, W, C) [, labels] → raw scores (B,), (H, W) = R/4 · ``base``."""

    resolution: int
    width: int = 256
    num_classes: int = 0
    stage_widths: Sequence[int] = ()  # resolution order, as the generator's; read reversed
    stage_blocks: Sequence[int] = ()
    stage_groups: Sequence[int] = ()
    expansion: int = 2
    embed_dim: int = 0  # projection size (0: the 4×4 stage's width)
    num_bf16_res: int = 0
    grouped_conv: str = "native"  # the form of the grouped convolutions (`gan_jax.ops.policy`)
    base: tuple[int, int] = (4, 4)  # the last stage's (height, width), as the generator's basis

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
        widths, blocks, groups = (
            v[::-1]
            for v in stage_plan(
                self.resolution,
                self.width,
                self.stage_widths,
                self.stage_blocks,
                self.stage_groups,
                self.expansion,
            )
        )
        total = sum(blocks)
        dtypes = _dtypes(len(widths), self.num_bf16_res, True)
        f = upfirdn2d.setup_filter(FILTER)
        x = Conv(widths[0], 1, name="extract")(x.astype(dtypes[0]))
        last = len(widths) - 1
        out_dim = (self.embed_dim or widths[-1]) if self.num_classes else 1
        for i, (w, n, g, dt) in enumerate(zip(widths, blocks, groups, dtypes)):
            x = x.astype(dt)
            for j in range(n):
                x = ResidualBlock(
                    self.expansion, g, total, grouped_conv=self.grouped_conv, name=f"stage{i}_block{j}"
                )(x)
            if i < last:
                x = upfirdn2d.downsample2d(x, f)
                if widths[i + 1] != w:
                    x = Conv(widths[i + 1], 1, name=f"stage{i}_transition")(x)
            else:  # discriminative basis: depthwise base-sized (valid), then linear
                # On a 4×4 input a valid depthwise 4×4 correlation is Σ_hw x[b,h,w,c]·k[h,w,c].
                kernel = self.param("basis", _init(1.0), (*self.base, 1, w))
                x = jnp.einsum("bhwc,hwc->bc", x, kernel[:, :, 0].astype(x.dtype))
                x = Linear(out_dim, name=f"stage{i}_linear")(x)
        if self.num_classes:
            e = Linear(out_dim, gain=1.0 / math.sqrt(out_dim), name="embed")(
                _one_hot(labels, self.num_classes, x.dtype)
            )
            x = jnp.sum(x * e, axis=-1, keepdims=True)
        return x.reshape(x.shape[0]).astype(jnp.float32)
