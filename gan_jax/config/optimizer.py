"""``optimizer``, ``schedule`` and ``ema``: how each network moves, and how its average follows.

optimizer.{g,d}.*    learning_rate, b1, b2, eps (Adam); weight_decay (decoupled, AdamW);
                     l1, l2 (explicit loss penalties); grad_clip (global norm, 0: off);
                     final_learning_rate, final_b2 (scheduled, see schedule.*)
schedule.*           shape ('cosine' | 'linear') and kimg (duration; 0: the whole run) of every
                     scheduled value: each field with a ``final_*`` twin moves from its value
                     to the twin's (None: constant); see `gan_jax.training.schedules`
ema.*                decay, warmup, half_life_kimg, rampup, final_half_life_kimg: generator EMA;
                     see `gan_jax.training.state.ema_decay`
ema.posthoc.*        enabled, sigma_rels, snapshot_every: EDM2's post-hoc EMA, power-function
                     averages of these widths kept while training and snapshotted every N steps
                     (0: at each checkpoint), any width rebuilt afterwards by
                     python -m gan_jax.tools.posthoc_ema; see `gan_jax.training.posthoc_ema`
"""

import math

import ml_collections
from ml_collections import config_dict

from gan_jax.errors import ConfigError

_NUMBERS = ("learning_rate", "b1", "b2", "eps", "weight_decay", "l1", "l2", "grad_clip")
_FINALS = ("final_learning_rate", "final_b2")


def adam() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            learning_rate=2e-4,
            b1=0.5,
            b2=0.999,
            eps=1e-8,
            weight_decay=0.0,
            l1=0.0,
            l2=0.0,
            grad_clip=0.0,
            final_learning_rate=config_dict.placeholder(float),  # scheduled (see `schedule`); None: constant
            final_b2=config_dict.placeholder(float),
        )
    )


def section() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(g=adam(), d=adam()))


def schedule() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            shape="cosine",  # how every scheduled value (final_* fields) moves: 'cosine' | 'linear'
            kimg=0.0,  # over how many thousand images (0: the whole run, num_steps × batch_size)
        )
    )


def ema() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            decay=0.999,
            warmup=True,
            half_life_kimg=0.0,  # > 0: StyleGAN2's EMA, half-life in thousands of images (replaces decay)
            rampup=0.0,  # with half_life_kimg: half-life ≤ rampup × images seen (StyleGAN2: 0.05)
            final_half_life_kimg=config_dict.placeholder(float),  # scheduled half-life (R3GAN: 0 → N)
            posthoc=dict(
                enabled=False,  # True: keep EDM2's power-function averages and snapshot them
                sigma_rels=(0.05, 0.10),  # their relative widths (EDM2's defaults)
                snapshot_every=0,  # steps between snapshots (0: at each checkpoint)
            ),
        )
    )


def _check_adam(opt: ml_collections.ConfigDict, side: str) -> None:
    for field in _NUMBERS + _FINALS:
        if opt[field] is not None and not math.isfinite(opt[field]):
            raise ConfigError(f"optimizer.{side}.{field}={opt[field]} must be a finite number")
    for field in ("learning_rate", "weight_decay", "l1", "l2", "grad_clip"):
        if opt[field] < 0:
            raise ConfigError(f"optimizer.{side}.{field}={opt[field]} must be >= 0")
    for field in ("b1", "b2"):
        if not 0.0 <= opt[field] < 1.0:
            raise ConfigError(
                f"optimizer.{side}.{field}={opt[field]} must be in [0, 1) (Adam's moment decay)"
            )
    if opt.eps <= 0:
        raise ConfigError(f"optimizer.{side}.eps={opt.eps} must be > 0")
    if opt.final_learning_rate is not None and opt.final_learning_rate < 0:
        raise ConfigError(f"optimizer.{side}.final_learning_rate={opt.final_learning_rate} must be >= 0")
    if opt.final_b2 is not None and not 0.0 <= opt.final_b2 < 1.0:
        raise ConfigError(f"optimizer.{side}.final_b2={opt.final_b2} must be in [0, 1)")


def _check_ema(ema: ml_collections.ConfigDict) -> None:
    if not 0.0 <= ema.decay < 1.0:
        raise ConfigError(f"ema.decay={ema.decay} must be in [0, 1)")
    if ema.half_life_kimg < 0 or ema.rampup < 0:
        raise ConfigError("ema.half_life_kimg and ema.rampup must be >= 0")
    if ema.final_half_life_kimg is not None and ema.final_half_life_kimg < 0:
        raise ConfigError(f"ema.final_half_life_kimg={ema.final_half_life_kimg} must be >= 0")
    _check_posthoc(ema.posthoc)


def _check_posthoc(posthoc: ml_collections.ConfigDict) -> None:
    limit = 0.2886  # 1/√12: the uniform average, the widest power-function profile
    sigmas = tuple(posthoc.sigma_rels)
    if posthoc.enabled and not sigmas:
        raise ConfigError("ema.posthoc.enabled needs at least one ema.posthoc.sigma_rels value")
    for sigma in sigmas:
        if not (isinstance(sigma, (int, float)) and 0 < sigma < limit):
            raise ConfigError(f"ema.posthoc.sigma_rels holds {sigma!r}; each must be in (0, {limit})")
    if len(set(sigmas)) != len(sigmas):
        raise ConfigError(f"ema.posthoc.sigma_rels={sigmas} repeats a value")
    if posthoc.snapshot_every < 0:
        raise ConfigError(
            f"ema.posthoc.snapshot_every={posthoc.snapshot_every} must be >= 0 (0: at each checkpoint)"
        )


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for an optimizer, schedule or EMA field that cannot work."""
    from gan_jax.training import schedules  # the registry, read when checking

    if config.schedule.shape not in schedules.SHAPES:
        raise ConfigError(f"schedule.shape={config.schedule.shape!r} must be one of {schedules.SHAPES}")
    if config.schedule.kimg < 0:
        raise ConfigError(f"schedule.kimg={config.schedule.kimg} must be >= 0 (0: the whole run)")
    _check_ema(config.ema)
    every, checkpoints = config.ema.posthoc.snapshot_every, config.checkpoint_every
    if config.ema.posthoc.enabled and every % checkpoints:
        raise ConfigError(
            f"ema.posthoc.snapshot_every={every} must be a multiple of checkpoint_every={checkpoints} "
            f"(snapshots are taken with checkpoints; 0: at each one)"
        )
    for side in ("g", "d"):
        _check_adam(config.optimizer[side], side)
