"""Generator / discriminator pairs, built from ``config.model``."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.config.dataset import base_shape, check_aspect
from gan_jax.errors import ConfigError
from gan_jax.models import biggan, dcgan, layers, r3gan, resnet, stylegan2
from gan_jax.ops import policy as ops_policy
from gan_jax.ops.policy import Policy

# Each has layout(), Generator and Discriminator.
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


def _dcgan_like(config, section) -> tuple[dict, dict]:
    """(G's, D's) fields of the DCGAN, SNGAN and BigGAN: widths, BatchNorm, compute dtype."""
    common = dict(
        resolution=config.dataset.resolution,
        num_classes=config.model.num_classes,
        dtype=jnp.dtype(config.model.dtype),
    )
    g = dict(common, channels=config.dataset.channels, width=section.g_width, bn_momentum=section.bn_momentum)
    return g, dict(common, width=section.d_width)


def _dcgan(config, policy: Policy) -> tuple[nn.Module, nn.Module]:
    g, d = _dcgan_like(config, config.model.dcgan)
    up = functools.partial(layers.UpConv, policy=policy)
    down = functools.partial(layers.DownConv, policy=policy)
    return (
        dcgan.Generator(**g, up_conv=up),
        dcgan.Discriminator(**d, bn_momentum=config.model.dcgan.bn_momentum, down_conv=down),
    )


def _sngan(config, policy: Policy) -> tuple[nn.Module, nn.Module]:
    g, d = _dcgan_like(config, config.model.sngan)
    return resnet.Generator(**g), resnet.Discriminator(**d)


def _biggan(config, policy: Policy) -> tuple[nn.Module, nn.Module]:
    s = config.model.biggan
    g, d = _dcgan_like(config, s)
    return (
        biggan.Generator(
            **g, shared_dim=s.shared_dim, hierarchical_z=s.hierarchical_z, attention_res=s.attention_res
        ),
        biggan.Discriminator(**d, attention_res=s.attention_res),
    )


def _stylegan2(config, policy: Policy) -> tuple[nn.Module, nn.Module]:
    s, m = config.model.stylegan2, config.model
    common = dict(
        resolution=config.dataset.resolution,
        base=base_shape(config.dataset),
        num_classes=m.num_classes,
        mapping_lr_mul=s.mapping_lr_mul,
        channel_base=s.channel_base,
        channel_max=s.channel_max,
        conv_clamp=s.conv_clamp,
        num_bf16_res=s.num_bf16_res,
    )
    g = stylegan2.Generator(
        **common,
        channels=config.dataset.channels,
        z_dim=m.z_dim,
        w_dim=s.w_dim,
        mapping_layers=s.mapping_layers,
        style_mixing_prob=s.style_mixing_prob,
        w_avg_beta=s.w_avg_beta,
        fused_modconv=policy.modconv,
    )
    d = stylegan2.Discriminator(
        **common, mbstd_group=s.mbstd_group, mbstd_channels=s.mbstd_channels, d_architecture=s.d_architecture
    )
    return g, d


def _r3gan(config, policy: Policy) -> tuple[nn.Module, nn.Module]:
    s, m = config.model.r3gan, config.model
    common = dict(
        resolution=config.dataset.resolution,
        base=base_shape(config.dataset),
        num_classes=m.num_classes,
        stage_widths=tuple(s.stage_widths),
        stage_blocks=tuple(s.stage_blocks),
        stage_groups=tuple(s.stage_groups),
        expansion=s.expansion,
        embed_dim=s.embed_dim,
        num_bf16_res=s.num_bf16_res,
        grouped_conv=policy.grouped_conv,
    )
    return (
        r3gan.Generator(**common, channels=config.dataset.channels, width=s.g_width, z_dim=m.z_dim),
        r3gan.Discriminator(**common, width=s.d_width),
    )


_BUILDERS = {"dcgan": _dcgan, "sngan": _sngan, "biggan": _biggan, "stylegan2": _stylegan2, "r3gan": _r3gan}


def build_models(
    config: ml_collections.ConfigDict, policy: Policy | None = None
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for ``config.model.architecture``, each given the common
    ``model`` fields it uses, its architecture's section (``model.<architecture>``) and the
    backend-specific forms of its ops (``policy``, `gan_jax.ops.policy`; default: for this
    process's first device, as a run on it would decide).

    Both are called as ``model(inputs, labels, train=...)``. The generator maps
    ``(B, model.z_dim)`` noise to ``(B, H, W, C)`` images in [-1, 1] with (H, W) =
    `gan_jax.config.dataset.image_shape` (R × R, R = ``dataset.resolution``, unless
    ``dataset.aspect`` says otherwise) and C = ``dataset.channels``; the discriminator maps such
    images to ``(B,)`` raw scores. Labels are int32 ``(B,)`` class ids, used when
    ``model.num_classes`` > 0 and ignored otherwise. The generator also takes float
    ``(B, num_classes)`` class weights in their place, conditioning on the weighted mix
    of the class embeddings (`layers.embed_classes`); one-hot weights give exactly the
    images of the int labels.
    """
    arch = config.model.architecture
    if arch not in _MODULES:
        raise ConfigError(f"unknown model.architecture {arch!r}; choose one of {ARCHITECTURES}")
    _MODULES[arch].layout(config.dataset.resolution)
    check_aspect(config.dataset, arch)
    return _BUILDERS[arch](config, policy or ops_policy.for_devices(config.ops, jax.local_devices()[:1]))
