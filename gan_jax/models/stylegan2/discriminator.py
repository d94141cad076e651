"""StyleGAN2's residual discriminator (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN", figure 7c, configuration E/F), as in NVlabs' stylegan2-ada-pytorch.

    x = FromRGB(img)                                       (1×1, at the top resolution only)
    per resolution R, …, 8:
        x = √½ · skip(x) + conv1(conv0(x))                 (skip: 1×1, ÷2; conv1: 3×3, ÷2)
    4×4 epilogue: minibatch std → 3×3 conv → dense → dense to 1 [or cmap_dim]

Every ÷2 is FIR-filtered with [1, 3, 3, 1] (`upfirdn2d`). The √½ gains on conv1 and skip
keep the sum at unit variance. ``d_architecture='orig'`` drops the skip branch (and the
gains): x = conv1(conv0(x)), NVlabs' choice for CIFAR-10.

Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs",
section 3; grouped as in StyleGAN2): the batch splits
into groups of ``mbstd_group``; each group's per-feature standard deviation, averaged
over ``mbstd_channels`` channel groups and the pixels, becomes extra feature maps.
Sample i belongs to group i mod (B / G), as in NVlabs.

Class-conditional (``num_classes`` > 0): projection (Miyato & Koyama 2018) onto a
mapped label embedding, D(x, c) = ⟨out(x), cmap(c)⟩ / √cmap_dim, cmap from an 8-layer
mapping network of width cmap_dim = channels at 4×4.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.stylegan2.layers import (
    Conv2d,
    FullyConnected,
    block_resolutions,
    channels_at,
    clamp_or_none,
    reduced_precision_from,
)
from gan_jax.models.stylegan2.mapping import MappingNetwork

SQRT_HALF = math.sqrt(0.5)


def minibatch_std(x: jax.Array, group_size: int, num_channels: int = 1) -> jax.Array:
    """Appends ``num_channels`` feature maps of the group standard deviation to NHWC x:

        σ_{n,f} = mean_{c ∈ f, h, w} √(Var_{g}[x_{g·n', h, w, c}] + 1e-8),

    groups of G = min(group_size, B) samples i, i + B/G, i + 2B/G, …; channels split
    into ``num_channels`` contiguous groups f.
    """
    b, h, w, c = x.shape
    g = min(group_size, b) if group_size else b
    if b % g:
        raise ConfigError(
            f"minibatch std: a batch of {b} does not split into groups of {g} (model.stylegan2.mbstd_group)"
        )
    y = x.astype(jnp.float32).reshape(g, b // g, h, w, num_channels, c // num_channels)
    y = jnp.sqrt(jnp.mean(jnp.square(y - jnp.mean(y, axis=0)), axis=0) + 1e-8)
    y = jnp.mean(y, axis=(1, 2, 4))  # (B/G, F)
    y = jnp.tile(y, (g, 1)).astype(x.dtype)
    return jnp.concatenate([x, jnp.broadcast_to(y[:, None, None, :], (b, h, w, num_channels))], -1)


class DiscriminatorBlock(nn.Module):
    """One resolution of the discriminator (FromRGB only in the first)."""

    tmp_features: int
    features: int
    first: bool
    dtype: jnp.dtype = jnp.float32
    conv_clamp: float | None = None
    residual: bool = True

    @nn.compact
    def __call__(self, x: jax.Array | None, img: jax.Array) -> jax.Array:
        conv = lambda f, k, name, **kw: Conv2d(f, k, name=name, **kw)  # noqa: E731
        if self.first:
            x = conv(self.tmp_features, 1, "fromrgb", activation="lrelu", conv_clamp=self.conv_clamp)(
                img.astype(self.dtype)
            )
        x = x.astype(self.dtype)
        gain = SQRT_HALF if self.residual else 1.0
        if self.residual:
            y = conv(self.features, 1, "skip", use_bias=False, down=2)(x, gain=gain)
        x = conv(self.tmp_features, 3, "conv0", activation="lrelu", conv_clamp=self.conv_clamp)(x)
        x = conv(self.features, 3, "conv1", activation="lrelu", down=2, conv_clamp=self.conv_clamp)(
            x, gain=gain
        )
        return y + x if self.residual else x


class Discriminator(nn.Module):
    """StyleGAN2 discriminator: images (B, H, W, C) [+ labels] → (B,) raw scores; (H, W) =
    R/4 · ``base`` (R × R by default), the epilogue running on the ``base``-sized map."""

    resolution: int = 32
    num_classes: int = 0
    mapping_lr_mul: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group: int = 4
    mbstd_channels: int = 1
    conv_clamp: float | None = 256.0  # 0 or None: off
    num_bf16_res: int = 0
    cmap_layers: int = 8  # NVlabs keeps the label mapping at 8 layers whatever G's depth
    d_architecture: str = "resnet"  # 'resnet' | 'orig' (no skip branch)
    base: tuple[int, int] = (4, 4)  # the last block's (height, width), as the generator's first

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
        size = (self.resolution * self.base[0] // 4, self.resolution * self.base[1] // 4)
        if x.shape[1:3] != size:
            raise ConfigError(
                f"discriminator built for {size[0]}x{size[1]} images (height x width) got images of shape {x.shape[1:]}"
            )
        if self.d_architecture not in ("resnet", "orig"):
            raise ConfigError(
                f"model.stylegan2.d_architecture={self.d_architecture!r} must be 'resnet' or 'orig'"
            )
        channels = lambda res: channels_at(res, self.channel_base, self.channel_max)  # noqa: E731
        clamp = clamp_or_none(self.conv_clamp)
        low = reduced_precision_from(self.resolution, self.num_bf16_res)
        img, h = x.astype(jnp.float32), None
        for res in reversed(block_resolutions(self.resolution)[1:]):
            block = DiscriminatorBlock(
                channels(res),
                channels(res // 2),
                first=res == self.resolution,
                dtype=jnp.bfloat16 if res >= low else jnp.float32,
                conv_clamp=clamp,
                residual=self.d_architecture == "resnet",
                name=f"b{res}",
            )
            h = block(h, img)
        cmap = None
        if self.num_classes:  # cmap_dim = the 4×4 width
            cmap = MappingNetwork(
                channels(4),
                self.num_classes,
                None,
                self.cmap_layers,
                self.mapping_lr_mul,
                w_avg_beta=None,
                name="mapping",
            )
            cmap = cmap(None, labels)
        epilogue = Epilogue(channels(4), self.mbstd_group, self.mbstd_channels, clamp, name="b4")
        return epilogue(h, cmap)


class Epilogue(nn.Module):
    """4×4 head: mbstd, 3×3 conv, dense over the flattened map, dense out [, projection]."""

    features: int
    mbstd_group: int
    mbstd_channels: int
    conv_clamp: float | None

    @nn.compact
    def __call__(self, x: jax.Array, cmap: jax.Array | None) -> jax.Array:
        x = x.astype(jnp.float32)
        if self.mbstd_channels:
            x = minibatch_std(x, self.mbstd_group, self.mbstd_channels)
        x = Conv2d(self.features, 3, "lrelu", conv_clamp=self.conv_clamp, name="conv")(x)
        # Flattened channel-major (C, H, W), NVlabs' order, so its fc weight is used as is.
        x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)
        x = FullyConnected(self.features, "lrelu", name="fc")(x)
        x = FullyConnected(1 if cmap is None else cmap.shape[-1], name="out")(x)
        if cmap is None:
            return x[:, 0]
        return jnp.sum(x * cmap, axis=1) * (1.0 / math.sqrt(cmap.shape[-1]))
