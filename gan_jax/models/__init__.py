"""Generator / discriminator pairs, built from ``config.model``."""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_jax.errors import ConfigError
from gan_jax.models import biggan, dcgan, r3gan, resnet, stylegan2

# Each has layout(), Generator, Discriminator and optionally G_FIELDS / D_FIELDS.
_MODULES = {"dcgan": dcgan, "sngan": resnet, "biggan": biggan, "stylegan2": stylegan2, "r3gan": r3gan}
ARCHITECTURES = tuple(_MODULES)


def resolutions(architecture: str) -> list[int]:
    """The image sizes ``architecture`` makes, from 4 to 1024 px (those its ``layout`` takes):
    DCGAN 28, 32, 64 (its paper's 64 px network and smaller); SNGAN and BigGAN 28 and the
    powers of two from 32 to 1024; StyleGAN2 and R3GAN the powers of two from 4 to 1024."""
    module = _MODULES[architecture]
    found = []
    for res in sorted([28] + [2**k for k in range(2, 11)]):  # every size any layout takes
        try:
            module.layout(res)
        except ConfigError:
            continue
        found.append(res)
    return found


def build_models(config: ml_collections.ConfigDict) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for ``config.model.architecture``.

    Both are called as ``model(inputs, labels, train=...)``. The generator maps
    ``(B, model.z_dim)`` noise to ``(B, R, R, C)`` images in [-1, 1] with
    R = ``dataset.resolution`` and C = ``dataset.channels``; the discriminator maps such
    images to ``(B,)`` raw scores. Labels are int32 ``(B,)`` class ids, used when
    ``model.num_classes`` > 0 and ignored otherwise. The generator also takes float
    ``(B, num_classes)`` class weights in their place, conditioning on the weighted mix
    of the class embeddings (`layers.embed_classes`); one-hot weights give exactly the
    images of the int labels.
    """
    m = config.model
    if m.architecture not in _MODULES:
        raise ConfigError(f"unknown model.architecture {m.architecture!r}; choose one of {ARCHITECTURES}")
    module, res = _MODULES[m.architecture], config.dataset.resolution
    module.layout(res)
    common = dict(
        resolution=res, num_classes=m.num_classes, bn_momentum=m.bn_momentum, dtype=jnp.dtype(m.dtype)
    )
    # Architecture-specific model.* fields each module declares it takes.
    g_extra = {name: m[name] for name in getattr(module, "G_FIELDS", ())}
    d_extra = {name: m[name] for name in getattr(module, "D_FIELDS", ())}
    return (
        module.Generator(channels=config.dataset.channels, width=m.g_width, **common, **g_extra),
        module.Discriminator(width=m.d_width, **common, **d_extra),
    )
