"""Training recipes shared by several configs: each config file states its numbers, the
recipe sets the fields they imply.

    r3gan(config, ...)    R3GAN's (Huang et al. 2024) preset recipe, as brownvc/R3GAN's
                          train.py sets it (docs/r3gan.md)
    nvlabs_loop(config)   the training loop of NVlabs' stylegan2-ada-pytorch, for the
                          StyleGAN2 configs (docs/stylegan2.md)
"""

import ml_collections


def nvlabs_loop(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The loop of NVlabs' ``training/training_loop.py`` and ``training/loss.py``: phases in
    the order Gmain, Greg, Dmain, Dreg (G's update sees D before the step's D update), and
    w̄ moved by every training pass of the mapping network (G main, the path-length batch,
    D main's generated batch), and ``microbatches`` taken as NVlabs' ``batch_gpu`` rounds
    (gradients summed, path length's mean moved by each round in turn). The EMA ramp-up
    and ADA's tally and step are NVlabs' in every config."""
    config.phase_order = "g_first"
    config.model.stylegan2.w_avg_update = "every_pass"
    config.microbatches_as = "rounds"
    return config


def r3gan(
    config: ml_collections.ConfigDict,
    *,
    widths: tuple[int, ...],
    groups: tuple[int, ...],
    num_classes: int,
    num_bf16_res: int,
    batch_size: int,
    gamma: tuple[float, float],
    ema_kimg: float,
    aug_p: float,
    decay_kimg: float,
) -> ml_collections.ConfigDict:
    """R3GAN's recipe on ``config``: the network (``widths``/``groups`` per stage, 4×4 first,
    2 residual blocks each, expansion 2, z 64), the RpGAN loss with generated images
    paired to real ones of the same class, G's phase on a real batch of its own after D's
    (brownvc's loop fetches two per step), R1 and R2 every step, Adam β₁ = 0, and every
    schedule a half-cosine over ``decay_kimg`` thousand images: learning rate 2e-4 → 5e-5,
    β₂ 0.9 → 0.99, γ ``gamma[0]`` → ``gamma[1]``, EMA half-life 0 → ``ema_kimg``,
    augmentation probability 0 → ``aug_p`` (ADA's ops with cutout, 'bgcc'; off when 0).
    The run lasts the schedule: ``decay_kimg`` thousand images."""
    config.model.update(architecture="r3gan", num_classes=num_classes, z_dim=64)
    config.model.r3gan.update(
        stage_widths=tuple(widths),
        stage_blocks=(2,) * len(widths),
        stage_groups=tuple(groups),
        expansion=2,
        num_bf16_res=num_bf16_res,
    )
    config.loss.update(d_loss="relativistic", g_loss="relativistic", fake_labels="real", g_real_batch="own")
    for side in ("g", "d"):
        config.optimizer[side].update(
            learning_rate=2e-4, final_learning_rate=5e-5, b1=0.0, b2=0.9, final_b2=0.99, eps=1e-8
        )
    config.regularizer.update(
        r1_gamma=gamma[0], final_r1_gamma=gamma[1], r2_gamma=gamma[0], final_r2_gamma=gamma[1]
    )
    if aug_p:
        config.augment.update(kind="ada", ada_pipeline="bgcc", ada_target=0.0, ada_p=0.0, final_ada_p=aug_p)
    config.ema.update(half_life_kimg=0.0, final_half_life_kimg=ema_kimg)
    config.schedule.update(shape="cosine", kimg=decay_kimg)
    config.batch_size = batch_size
    config.num_steps = int(decay_kimg * 1000) // batch_size
    return config
