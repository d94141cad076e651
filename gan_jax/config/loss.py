"""``loss`` and ``regularizer``: what each phase minimises.

loss.d_loss/g_loss   one of `gan_jax.training.losses.D_LOSSES` / `G_LOSSES` ('relativistic': RpGAN)
loss.fake_labels     'sampled' (uniform classes for generated images) | 'real' (the real
                     batch's classes, pairing each generated image with a real one: R3GAN)
loss.g_real_batch    'shared' (G's phase pairs with the step's last D batch) | 'own' (G's phase
                     reads a real batch of its own, the step reading n_critic + 1 batches: R3GAN's
                     loop); only for a G loss that reads real images (relativistic)
regularizer.*        r1_gamma, r1_every, r2_gamma, r2_every (every > 1: lazy, own phase),
                     gp_lambda, lecam_lambda, lecam_decay, pl_weight, pl_every, pl_decay,
                     pl_batch_shrink, final_r1_gamma, final_r2_gamma: see
                     `gan_jax.training.regularizers`, `gan_jax.training.terms`
"""

import ml_collections
from ml_collections import config_dict

from gan_jax.errors import ConfigError


def section() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            d_loss="non_saturating",
            g_loss="non_saturating",
            fake_labels="sampled",  # classes of generated images: 'sampled' uniformly | 'real': the real batch's
            g_real_batch="shared",  # real images G's phase reads: 'shared' (D's last batch) | 'own' (R3GAN)
        )
    )


def regularizer() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            r1_gamma=0.0,  # R1 weight γ; the D loss gains (γ/2)·R1 (0: off)
            r1_every=1,  # 1: R1 joins D's main phase; k > 1: lazy, its own phase every k steps
            r2_gamma=0.0,  # R2 weight γ on generated images; the D loss gains (γ/2)·R2 (0: off)
            r2_every=1,  # as r1_every; R1 and R2 share D's lazy phase when both are lazy
            gp_lambda=0.0,  # WGAN-GP weight λ (0: off)
            lecam_lambda=0.0,  # LeCam weight λ (0: off)
            lecam_decay=0.99,  # decay of the EMAs of D(real) and D(fake) LeCam pulls towards
            pl_weight=0.0,  # path length weight (StyleGAN2: 2; 0: off); needs a StyleGAN generator
            pl_every=4,  # path length runs lazily in G's own phase every k steps
            pl_decay=0.01,  # rate of the running mean of path lengths
            pl_batch_shrink=2,  # path length runs on batch_size // shrink images
            final_r1_gamma=config_dict.placeholder(float),  # scheduled R1 weight (None: constant r1_gamma)
            final_r2_gamma=config_dict.placeholder(float),  # scheduled R2 weight (None: constant r2_gamma)
        )
    )


def _check_losses(loss: ml_collections.ConfigDict) -> None:
    from gan_jax.training import losses  # the registry, read when checking (config imports no optax)

    if loss.d_loss not in losses.D_LOSSES:
        raise ConfigError(f"loss.d_loss={loss.d_loss!r} is not one of {sorted(losses.D_LOSSES)}")
    if loss.fake_labels not in ("sampled", "real"):
        raise ConfigError(f"loss.fake_labels={loss.fake_labels!r} must be 'sampled' or 'real'")
    if loss.g_loss not in losses.G_LOSSES:
        raise ConfigError(f"loss.g_loss={loss.g_loss!r} is not one of {sorted(losses.G_LOSSES)}")
    if loss.g_real_batch not in ("shared", "own"):
        raise ConfigError(f"loss.g_real_batch={loss.g_real_batch!r} must be 'shared' or 'own'")
    if loss.g_real_batch == "own" and loss.g_loss not in losses.PAIRED_G_LOSSES:
        raise ConfigError(
            f"loss.g_real_batch='own' reads a real batch for G's phase, but loss.g_loss="
            f"{loss.g_loss!r} reads no real images; use 'shared' or a loss among "
            f"{sorted(losses.PAIRED_G_LOSSES)}"
        )


def _check_regularizer(reg: ml_collections.ConfigDict, architecture: str) -> None:
    if min(reg.r1_gamma, reg.r2_gamma, reg.gp_lambda, reg.pl_weight) < 0:
        raise ConfigError("regularizer.r1_gamma, r2_gamma, gp_lambda and pl_weight must be >= 0")
    if min(reg.r1_every, reg.r2_every, reg.pl_every, reg.pl_batch_shrink) < 1:
        raise ConfigError("regularizer.r1_every, r2_every, pl_every and pl_batch_shrink must be >= 1")
    if reg.pl_weight and architecture != "stylegan2":
        raise ConfigError(
            f"regularizer.pl_weight needs a generator with a mapping and a synthesis "
            f"network (model.architecture='stylegan2'), not {architecture!r}"
        )
    if not 0.0 <= reg.pl_decay <= 1.0:
        raise ConfigError(f"regularizer.pl_decay={reg.pl_decay} must be in [0, 1]")
    if reg.lecam_lambda < 0 or not 0.0 <= reg.lecam_decay < 1.0:
        raise ConfigError("regularizer.lecam_lambda must be >= 0 and lecam_decay in [0, 1)")
    for name in ("final_r1_gamma", "final_r2_gamma"):
        if reg[name] is not None and reg[name] < 0:
            raise ConfigError(f"regularizer.{name}={reg[name]} must be >= 0")


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for a loss or regularizer field that cannot work."""
    _check_losses(config.loss)
    _check_regularizer(config.regularizer, config.model.architecture)
