"""``model``: the fields every architecture has, and one section per architecture.

model.*              architecture ('dcgan' | 'sngan' (ResNet, spectrally normalised D) | 'biggan'
                     | 'stylegan2' | 'r3gan'), z_dim, num_classes (0: unconditional; N:
                     conditional on the dataset's N labels), dtype (compute dtype of the DCGAN,
                     SNGAN and BigGAN, 'float32' or 'bfloat16': parameters, optimizer states,
                     normalisation statistics, spectral norm and the outputs stay float32;
                     StyleGAN2 and R3GAN set num_bf16_res in their section instead)
model.<architecture>.*  that architecture's own fields, only read when it is the one built
                     (`ARCHITECTURE_FIELDS`): dcgan, sngan: g_width, d_width (channels of the
                     layer nearest the image), bn_momentum (Flax convention); biggan: those and
                     shared_dim, hierarchical_z, attention_res (see gan_jax.models.biggan);
                     stylegan2: w_dim, mapping_layers, mapping_lr_mul, channel_base,
                     channel_max, style_mixing_prob, w_avg_beta, w_avg_update ('every_pass':
                     w̄ moves in every training pass of the mapping network, as NVlabs'; or
                     'g_main'), mbstd_group, mbstd_channels, conv_clamp, num_bf16_res,
                     d_architecture (see gan_jax.models.stylegan2); r3gan: g_width, d_width,
                     stage_widths, stage_blocks, stage_groups, expansion, embed_dim,
                     num_bf16_res (see gan_jax.models.r3gan)
"""

import ml_collections

from gan_jax.errors import ConfigError

ARCHITECTURES = ("dcgan", "sngan", "biggan", "stylegan2", "r3gan")
COMMON_FIELDS = ("architecture", "z_dim", "num_classes", "dtype")


def _widths(**more) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(g_width=64, d_width=64, **more))


def _stylegan2() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            w_dim=512,  # size of w, the mapping network's output
            mapping_layers=8,  # G's mapping depth (NVlabs' cifar config: 2)
            mapping_lr_mul=0.01,  # learning-rate multiplier of the mapping layers (G and D)
            channel_base=32768,  # channels at resolution r: min(channel_base // r, channel_max)
            channel_max=512,
            style_mixing_prob=0.9,  # probability of mixing two latents in training (0: off)
            w_avg_beta=0.995,  # decay of the running mean of w used by truncation
            w_avg_update="every_pass",  # w̄ moves in 'every_pass' of G's mapping (NVlabs) | 'g_main'
            mbstd_group=4,  # minibatch-std group size (D)
            mbstd_channels=1,  # minibatch-std feature maps (0: off)
            conv_clamp=256.0,  # clamp every convolution's output to ±conv_clamp (0: off)
            num_bf16_res=0,  # compute the N highest resolutions in bfloat16
            d_architecture="resnet",  # 'resnet' (residual D) | 'orig' (plain D, NVlabs' cifar)
        )
    )


def section() -> ml_collections.ConfigDict:
    """The common fields and the sections of the five architectures, with their defaults."""
    m = ml_collections.ConfigDict(dict(architecture="dcgan", z_dim=100, num_classes=0, dtype="float32"))
    m.dcgan = _widths(bn_momentum=0.9)
    m.sngan = _widths(bn_momentum=0.9)
    m.biggan = _widths(
        bn_momentum=0.9,
        shared_dim=128,  # size of the shared class embedding
        hierarchical_z=True,  # a chunk of z for each generator block
        attention_res=0,  # feature-map size with self-attention (0: none)
    )
    m.stylegan2 = _stylegan2()
    m.r3gan = _widths(
        stage_widths=(),  # channels per stage, 4x4 first (empty: g_width / d_width each)
        stage_blocks=(),  # residual blocks per stage (empty: 2 each)
        stage_groups=(),  # groups of each stage's 3x3 conv (empty: expanded width / 16)
        expansion=2,  # inverted-bottleneck expansion factor
        embed_dim=0,  # class embedding size (0: z_dim in G, the 4x4 width in D)
        num_bf16_res=0,  # compute the N highest resolutions in bfloat16
    )
    return m


ARCHITECTURE_FIELDS = {name: tuple(section()[name].keys()) for name in ARCHITECTURES}


def architecture_section(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """``config.model.<architecture>``: the built architecture's own fields."""
    return config.model[config.model.architecture]


def _check_dtype(model: ml_collections.ConfigDict) -> None:
    if model.dtype not in ("float32", "bfloat16", "float16"):
        raise ConfigError(f"model.dtype={model.dtype!r} must be float32, bfloat16 or float16")
    if model.dtype == "float16":
        raise ConfigError(
            "model.dtype='float16' is refused: gan_jax has no loss scaling, so "
            "float16's small gradients would underflow to zero; use 'bfloat16' "
            "(float32's range, no scaling needed)"
        )
    arch = model.architecture
    if model.dtype != "float32" and arch not in ("dcgan", "sngan", "biggan"):
        hint = (
            f"set model.{arch}.num_bf16_res instead (bfloat16 at the highest resolutions)"
            if arch in ("stylegan2", "r3gan")
            else "it computes in float32"
        )
        raise ConfigError(
            f"model.dtype={model.dtype!r} is only used by the DCGAN, SNGAN and "
            f"BigGAN; model.architecture={arch!r} would ignore it: {hint}"
        )


def _check_stylegan2(s: ml_collections.ConfigDict, built: bool) -> None:
    """w_avg_update is read by the step whatever is built; d_architecture when it is."""
    if built and s.d_architecture not in ("resnet", "orig"):
        raise ConfigError(f"model.stylegan2.d_architecture={s.d_architecture!r} must be 'resnet' or 'orig'")
    if s.w_avg_update not in ("every_pass", "g_main"):
        raise ConfigError(f"model.stylegan2.w_avg_update={s.w_avg_update!r} must be 'every_pass' or 'g_main'")


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for a common field or a field of the built architecture's
    section that cannot work."""
    model = config.model
    if model.architecture not in ARCHITECTURES:
        raise ConfigError(
            f"unknown model.architecture {model.architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    if model.num_classes < 0:
        raise ConfigError(f"model.num_classes={model.num_classes} must be >= 0")
    if model.z_dim < 1:
        raise ConfigError(f"model.z_dim={model.z_dim} must be >= 1")
    own = model[model.architecture]
    for field in ("g_width", "d_width"):
        if field in own and own[field] < 1:
            raise ConfigError(f"model.{model.architecture}.{field}={own[field]} must be >= 1")
    _check_stylegan2(model.stylegan2, built=model.architecture == "stylegan2")
    _check_dtype(model)
