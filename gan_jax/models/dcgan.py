"""DCGAN (Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with
Deep Convolutional Generative Adversarial Networks").

Generator: z → dense projection to a small feature map → stride-2 transposed 4×4
convolutions, each followed by BatchNorm and ReLU, halving the width as the map
doubles → a last transposed convolution to the image channels → tanh.

Discriminator: the mirror image with stride-2 4×4 convolutions and LeakyReLU(0.2),
BatchNorm on every layer but the first, and a linear layer to one logit.

Initialisation as in the paper: weights N(0, 0.02), BatchNorm scales N(1, 0.02).

Class-conditional option (``num_classes`` > 0, not in the paper): conditional BatchNorm
in G (de Vries et al. 2017) and a projection discriminator (Miyato & Koyama 2018).

Resolutions: 28 (7 → 14 → 28, MNIST-native), 32 (4 → 8 → 16 → 32) and
64 (4 → … → 64). Widths: the layer nearest the image has ``width`` channels; each
step away doubles it (the paper's 64-px model is ``width=128``: 1024-512-256-128).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.layers import ConditionalBatchNorm, DownConv, Projection, UpConv

RESOLUTIONS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}  # resolution → (base size, doublings)
ModuleDef = Any

_weight_init = nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def layout(resolution: int) -> tuple[int, int]:
    """(base feature-map size, number of ×2 up/down-sampling layers) for a resolution."""
    if resolution not in RESOLUTIONS:
        raise ConfigError(
            f"DCGAN cannot make {resolution}x{resolution} images; "
            f"dataset.resolution must be one of {sorted(RESOLUTIONS)}"
        )
    return RESOLUTIONS[resolution]


class Generator(nn.Module):
    """DCGAN generator: ``(B, z_dim)`` noise [and ``(B,)`` class labels] → ``(B, H, W, C)``
    images in [-1, 1]. With ``num_classes`` > 0 every BatchNorm is class-conditional
    (`layers.ConditionalBatchNorm`); otherwise labels are ignored."""

    resolution: int = 32
    channels: int = 3
    width: int = 64
    num_classes: int = 0
    bn_momentum: float = 0.9  # running = m·running + (1-m)·batch; PyTorch's 0.1
    dtype: jnp.dtype = jnp.float32
    up_conv: ModuleDef = UpConv  # the 4×4 stride-2 transposed convolution, as the run computes it

    @nn.compact
    def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
        base, ups = layout(self.resolution)

        def norm_relu(x):
            if self.num_classes:
                x = ConditionalBatchNorm(self.num_classes, self.bn_momentum, dtype=self.dtype)(
                    x, labels, train
                )
            else:
                x = nn.BatchNorm(
                    use_running_average=not train,
                    momentum=self.bn_momentum,
                    epsilon=1e-5,
                    scale_init=_bn_scale_init,
                    dtype=self.dtype,
                )(x)
            return nn.relu(x)

        features = self.width * 2 ** (ups - 1)
        x = nn.Dense(
            base * base * features, use_bias=False, kernel_init=_weight_init, dtype=self.dtype, name="project"
        )(z)
        x = norm_relu(x.reshape(z.shape[0], base, base, features))
        for _ in range(ups - 1):
            features //= 2
            x = self.up_conv(features, use_bias=False, kernel_init=_weight_init, dtype=self.dtype)(x)
            x = norm_relu(x)
        x = self.up_conv(self.channels, kernel_init=_weight_init, dtype=self.dtype, name="to_image")(x)
        return jnp.tanh(x.astype(jnp.float32))


class Discriminator(nn.Module):
    """DCGAN discriminator: ``(B, H, W, C)`` images in [-1, 1] [and ``(B,)`` labels] →
    ``(B,)`` logits. With ``num_classes`` > 0 it is a projection discriminator
    (`layers.Projection`); otherwise labels are ignored."""

    resolution: int = 32
    width: int = 64
    num_classes: int = 0
    bn_momentum: float = 0.9
    dtype: jnp.dtype = jnp.float32
    down_conv: ModuleDef = DownConv  # the 4×4 stride-2 convolution, as the run computes it

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True) -> jax.Array:
        _, downs = layout(self.resolution)
        if x.shape[1:3] != (self.resolution, self.resolution):
            raise ConfigError(
                f"discriminator built for {self.resolution}px got images of shape {x.shape[1:]}"
            )
        x = x.astype(self.dtype)
        for i in range(downs):
            x = self.down_conv(
                self.width * 2**i,
                use_bias=i == 0,
                kernel_init=_weight_init,
                dtype=self.dtype,
                name=f"Conv_{i}",  # the names nn.Conv takes, so checkpoints are unchanged
            )(x)
            if i > 0:  # DCGAN leaves the first layer un-normalised.
                x = nn.BatchNorm(
                    use_running_average=not train,
                    momentum=self.bn_momentum,
                    epsilon=1e-5,
                    scale_init=_bn_scale_init,
                    dtype=self.dtype,
                )(x)
            x = nn.leaky_relu(x, 0.2)
        h = x.reshape(x.shape[0], -1)
        logit = nn.Dense(1, kernel_init=_weight_init, dtype=self.dtype, name="logit")(h)[:, 0]
        if self.num_classes:
            logit = logit + Projection(self.num_classes)(h, labels)
        return logit.astype(jnp.float32)
