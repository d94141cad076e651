"""ResNet generator and discriminator of SNGAN (Miyato et al. 2018, "Spectral
Normalization for Generative Adversarial Networks", appendix B.4, Tables 4 and 5).

Generator: z → linear to a 4x4 map → residual up-blocks (BN, ReLU, nearest 2x
upsampling, 3x3 conv, BN, ReLU, 3x3 conv; 1x1 conv on the upsampled shortcut) → BN,
ReLU, 3x3 conv → tanh. Discriminator: an "optimised" first block, residual down-blocks
with 2x2 average pooling, ReLU, global sum pooling and a linear layer; every layer of D
is spectrally normalised (`layers.spectral_norm`), G keeps BatchNorm.

With ``num_classes`` > 0 the generator's BatchNorms are class-conditional and the
discriminator adds the projection term on its pooled features (Miyato & Koyama 2018),
the SNGAN-projection / BigGAN-style conditioning.

Resolutions: 28 (7 → 14 → 28) and the powers of two from 32 (4 → … → 32, the CIFAR-10
model) to 1024. Every block has the same width, as the paper's CIFAR-10 and STL-10
models; for the wide-to-narrow networks of high resolutions, BigGAN (`gan_jax.models.biggan`)
shares these blocks.

Precision (``dtype``, ``model.dtype``): parameters are float32 and every convolution and
linear layer computes in ``dtype`` (bfloat16: inputs and kernels cast to it). BatchNorm
statistics and normalisation, spectral normalisation (power iteration, σ, the stored u)
and the class-embedding tables stay float32; G returns its tanh image and D its logits
in float32, so the losses are float32.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.layers import (
    ConditionalBatchNorm,
    ModulatedBatchNorm,
    Projection,
    maybe_spectral,
    spectral_norm,
)

# resolution → (base size, doublings): 28 from 7×7, the powers of two from 4×4.
RESOLUTIONS = {28: (7, 2), **{2**k: (4, k - 2) for k in range(5, 11)}}


def layout(resolution: int) -> tuple[int, int]:
    if resolution not in RESOLUTIONS:
        raise ConfigError(
            f"the ResNet models make {sorted(RESOLUTIONS)} px images, not dataset.resolution={resolution}"
        )
    return RESOLUTIONS[resolution]


def _upsample(x):
    b, h, w, c = x.shape
    return jax.image.resize(x, (b, 2 * h, 2 * w, c), "nearest")


def _downsample(x):
    return nn.avg_pool(x, (2, 2), (2, 2))


class _Norm(nn.Module):
    """BatchNorm conditioned on ``cond``: none (plain BN), class ids or class weights
    (`ConditionalBatchNorm`), or with ``modulated`` a conditioning vector (BigGAN's
    `ModulatedBatchNorm`). Statistics are float32; the output has ``dtype``."""

    num_classes: int
    momentum: float
    spectral: bool = False
    modulated: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, cond, train):
        if cond is None:
            return nn.BatchNorm(
                use_running_average=not train, momentum=self.momentum, epsilon=1e-5, dtype=self.dtype
            )(x)
        if self.modulated:
            return ModulatedBatchNorm(self.momentum, spectral=self.spectral, dtype=self.dtype)(x, cond, train)
        return ConditionalBatchNorm(self.num_classes, self.momentum, dtype=self.dtype)(x, cond, train)


class GBlock(nn.Module):
    """Pre-activation up-block: (norm, ReLU, 2x up, conv3, norm, ReLU, conv3) + conv1(2x up)."""

    features: int
    num_classes: int = 0
    bn_momentum: float = 0.9
    spectral: bool = False  # spectral norm on every conv (BigGAN's generator)
    modulated: bool = False  # cond is a float vector for ModulatedBatchNorm (BigGAN), not classes
    kernel_init: nn.initializers.Initializer = nn.initializers.xavier_uniform()
    dtype: jnp.dtype = jnp.float32  # compute dtype of the convolutions and the normalised activations

    @nn.compact
    def __call__(self, x, cond, train):
        def conv(size, name=None):
            layer = nn.Conv(
                self.features, (size, size), kernel_init=self.kernel_init, dtype=self.dtype, name=name
            )
            return maybe_spectral(layer, self.spectral, train)

        norm = lambda: _Norm(  # noqa: E731
            self.num_classes,
            self.bn_momentum,
            self.spectral,
            self.modulated,
            self.dtype,
        )
        h = conv(3)(_upsample(nn.relu(norm()(x, cond, train))))
        h = conv(3)(nn.relu(norm()(h, cond, train)))
        return h + conv(1, name="shortcut")(_upsample(x))


class DBlock(nn.Module):
    """Pre-activation down-block, every conv spectrally normalised."""

    features: int
    downsample: bool = True
    first: bool = False  # the "optimised" block: no ReLU before the first conv, pool before the shortcut conv
    kernel_init: nn.initializers.Initializer = nn.initializers.xavier_uniform()
    dtype: jnp.dtype = jnp.float32  # compute dtype of the convolutions

    @nn.compact
    def __call__(self, x, train):
        sn = lambda layer: lambda t: spectral_norm(layer)(t, update_stats=train)  # noqa: E731
        conv = lambda size, **kw: nn.Conv(  # noqa: E731
            self.features,
            (size, size),
            kernel_init=self.kernel_init,
            dtype=self.dtype,
            **kw,
        )
        h = x if self.first else nn.relu(x)
        h = sn(conv(3))(h)
        h = sn(conv(3))(nn.relu(h))
        if self.downsample:
            h = _downsample(h)
        shortcut = x
        if self.first:
            shortcut = sn(conv(1, name="shortcut"))(_downsample(x))
        elif self.downsample or x.shape[-1] != self.features:
            shortcut = sn(conv(1, name="shortcut"))(x)
            shortcut = _downsample(shortcut) if self.downsample else shortcut
        return h + shortcut


class Generator(nn.Module):
    """``(B, z_dim)`` noise [and labels] → ``(B, R, R, C)`` images in [-1, 1]."""

    resolution: int = 32
    channels: int = 3
    width: int = 256
    num_classes: int = 0
    bn_momentum: float = 0.9
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, labels=None, train: bool = True):
        base, ups = layout(self.resolution)
        x = nn.Dense(
            base * base * self.width,
            kernel_init=nn.initializers.xavier_uniform(),
            dtype=self.dtype,
            name="project",
        )(z)
        x = x.reshape(z.shape[0], base, base, self.width)
        cond = labels if self.num_classes else None
        for _ in range(ups):
            x = GBlock(self.width, self.num_classes, self.bn_momentum, dtype=self.dtype)(x, cond, train)
        x = nn.relu(
            nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, dtype=self.dtype)(x)
        )
        x = nn.Conv(
            self.channels,
            (3, 3),
            kernel_init=nn.initializers.xavier_uniform(),
            dtype=self.dtype,
            name="to_image",
        )(x)
        return jnp.tanh(x.astype(jnp.float32))


class Discriminator(nn.Module):
    """``(B, R, R, C)`` images [and labels] → ``(B,)`` raw scores; spectrally normalised."""

    resolution: int = 32
    width: int = 128
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, labels=None, train: bool = True):
        _, downs = layout(self.resolution)
        x = DBlock(self.width, downsample=True, first=True, dtype=self.dtype)(x.astype(self.dtype), train)
        for i in range(1, downs + 1):  # the last two blocks keep the size, as SNGAN's CIFAR-10 D
            x = DBlock(self.width, downsample=i < downs - 1, dtype=self.dtype)(x, train)
        h = jnp.sum(nn.relu(x).astype(jnp.float32), axis=(1, 2))  # global sum pooling, in float32
        linear = nn.Dense(1, kernel_init=nn.initializers.xavier_uniform(), dtype=self.dtype, name="logit")
        logit = spectral_norm(linear)(h, update_stats=train)[:, 0]
        if self.num_classes:
            logit = logit + Projection(self.num_classes)(h, labels)
        return logit.astype(jnp.float32)
