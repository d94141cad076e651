"""Generator / discriminator pairs, built from ``config.model``."""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_jax.errors import ConfigError
from gan_jax.models import dcgan, resnet

ARCHITECTURES = ("dcgan", "sngan")


def build_models(config: ml_collections.ConfigDict) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for ``config.model.architecture``.

    Both are called as ``model(inputs, labels, train=...)``. The generator maps
    ``(B, model.z_dim)`` noise to ``(B, R, R, C)`` images in [-1, 1] with
    R = ``dataset.resolution`` and C = ``dataset.channels``; the discriminator maps such
    images to ``(B,)`` raw scores. Labels are int32 ``(B,)`` class ids, used when
    ``model.num_classes`` > 0 and ignored otherwise.
    """
    m = config.model
    dtype = jnp.dtype(m.dtype)
    if m.architecture == "dcgan":
        dcgan.layout(config.dataset.resolution)
        g = dcgan.Generator(resolution=config.dataset.resolution, channels=config.dataset.channels,
                            width=m.g_width, num_classes=m.num_classes, bn_momentum=m.bn_momentum,
                            dtype=dtype)
        d = dcgan.Discriminator(resolution=config.dataset.resolution, width=m.d_width,
                                num_classes=m.num_classes, bn_momentum=m.bn_momentum, dtype=dtype)
        return g, d
    if m.architecture == "sngan":
        resnet.layout(config.dataset.resolution)
        g = resnet.Generator(resolution=config.dataset.resolution, channels=config.dataset.channels,
                             width=m.g_width, num_classes=m.num_classes, bn_momentum=m.bn_momentum,
                             dtype=dtype)
        d = resnet.Discriminator(resolution=config.dataset.resolution, width=m.d_width,
                                 num_classes=m.num_classes, dtype=dtype)
        return g, d
    raise ConfigError(f"unknown model.architecture {m.architecture!r}; choose one of {ARCHITECTURES}")
