"""``augment``: what happens to every image D sees.

augment.*            kind ('' | 'diffaugment' | 'ada'), policy, ada_pipeline ('bgc', ...), ada_p,
                     ada_target, ada_interval, ada_kimg, final_ada_p: see `gan_jax.augment`
"""

import ml_collections
from ml_collections import config_dict

from gan_jax.errors import ConfigError


def section() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            kind="",  # '' (none) | 'diffaugment' | 'ada'; applied to every image D sees
            policy="color,translation,cutout",  # DiffAugment's ops
            ada_pipeline="bgc",  # ADA's ops: NVlabs' preset name, see gan_jax.augment.ada.PIPELINES
            ada_p=0.0,  # ADA's initial probability
            ada_target=0.6,  # target of r_t = E[sign(D(real))]; 0 keeps p fixed at ada_p
            ada_interval=4,  # steps between adjustments of p
            ada_kimg=500.0,  # thousands of real images for p to move from 0 to 1
            final_ada_p=config_dict.placeholder(float),  # with ada_target=0: p scheduled from ada_p to this
        )
    )


def _check_final_p(aug: ml_collections.ConfigDict) -> None:
    if aug.final_ada_p is None:
        return
    if not 0.0 <= aug.final_ada_p <= 1.0:
        raise ConfigError(f"augment.final_ada_p={aug.final_ada_p} must be in [0, 1]")
    if aug.ada_target:
        raise ConfigError(
            "augment.final_ada_p schedules a fixed p: set augment.ada_target=0 "
            "(ADA's adaptive p and a scheduled p exclude each other)"
        )


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for an augmentation field that cannot work."""
    from gan_jax import augment  # the registry, read when checking

    aug = config.augment
    if aug.kind not in augment.KINDS:
        raise ConfigError(f"augment.kind={aug.kind!r} must be one of {augment.KINDS}")
    unknown = set(op for op in aug.policy.split(",") if op) - set(augment.DIFFAUGMENT_OPS)
    if unknown:
        raise ConfigError(
            f"augment.policy has unknown ops {sorted(unknown)}; choose from {','.join(augment.DIFFAUGMENT_OPS)}"
        )
    if aug.ada_pipeline not in augment.ADA_PIPELINES:
        raise ConfigError(
            f"augment.ada_pipeline={aug.ada_pipeline!r} must be one of {', '.join(augment.ADA_PIPELINES)}"
        )
    if not 0.0 <= aug.ada_p <= 1.0 or aug.ada_interval < 1 or aug.ada_kimg <= 0:
        raise ConfigError("augment.ada_p must be in [0, 1], ada_interval >= 1, ada_kimg > 0")
    _check_final_p(aug)
