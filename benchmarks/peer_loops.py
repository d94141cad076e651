"""gan_jax configs as the references' loops take them, and running a peer script.

`nvlabs_meta` and `r3gan_meta` translate a StyleGAN2 or R3GAN config into the arguments of
`peers/stylegan2_steps.Loop` (NVlabs' stylegan2-ada-pytorch) and `peers/r3gan_steps.Loop`
(brownvc/R3GAN): the networks as those codebases build them and their loops'
hyperparameters. `run_peer` runs a script of `peers/` with a Python that has torch.
Used by `training_curves.py` and by `tests/training/test_parity_steps.py`.
"""

import os
import subprocess
import sys

from gan_jax.augment import ada as augment_ada
from gan_jax.training.phases import optimizer_scale

PEERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")


def nvlabs_meta(config, steps: int, seed: int = 0) -> dict:
    """NVlabs' arguments for ``config``'s networks and loop. NVlabs always regularises G
    lazily (``G_reg_interval=4``, its lr·c and β^c even where path length is off): with
    no path length the gan_jax preset states the scaled values, undone here."""
    m, reg, aug = config.model, config.regularizer, config.augment
    s = config.model.stylegan2
    g_every = reg.pl_every if reg.pl_weight else 4
    undo = 1.0 if reg.pl_weight else 1.0 / optimizer_scale(g_every)
    g, d = config.optimizer.g, config.optimizer.d
    return dict(
        resolution=config.dataset.resolution,
        img_channels=config.dataset.channels,
        num_classes=m.num_classes,
        z_dim=m.z_dim,
        w_dim=s.w_dim,
        mapping_layers=s.mapping_layers,
        mapping_lr_mul=s.mapping_lr_mul,
        w_avg_beta=s.w_avg_beta,
        channel_base=s.channel_base,
        channel_max=s.channel_max,
        conv_clamp=s.conv_clamp,
        num_fp16_res=0,
        mbstd_group=s.mbstd_group,
        mbstd_channels=s.mbstd_channels,
        d_architecture=s.d_architecture,
        batch=config.batch_size,
        batch_gpu=config.batch_size // config.microbatches,
        style_mixing_prob=s.style_mixing_prob,
        r1_gamma=reg.r1_gamma,
        d_reg_interval=reg.r1_every,
        pl_weight=reg.pl_weight,
        pl_decay=reg.pl_decay,
        pl_batch_shrink=reg.pl_batch_shrink,
        g_reg_interval=g_every,
        g_lr=g.learning_rate * undo,
        g_betas=[g.b1**undo, g.b2**undo],
        g_eps=g.eps,
        d_lr=d.learning_rate,
        d_betas=[d.b1, d.b2],
        d_eps=d.eps,
        ema_kimg=config.ema.half_life_kimg,
        ema_rampup=config.ema.rampup or None,
        augpipe=list(augment_ada.PIPELINES[aug.ada_pipeline]) if aug.kind == "ada" else [],
        ada_p=aug.ada_p,
        ada_target=aug.ada_target or None,
        ada_interval=aug.ada_interval,
        ada_kimg=aug.ada_kimg,
        steps=steps,
        seed=seed,
    )


def r3gan_meta(config, steps: int, seed: int = 0) -> dict:
    """brownvc's arguments: the networks as its train.py builds them, the schedules'
    (base, final) pairs over ``decay_nimg``, augmentation on or off."""
    m, reg, opt = config.model, config.regularizer, config.optimizer.d
    s = config.model.r3gan
    return dict(
        resolution=config.dataset.resolution,
        num_classes=m.num_classes,
        z_dim=m.z_dim,
        widths=list(s.stage_widths),
        groups=list(s.stage_groups),
        blocks=list(s.stage_blocks),
        expansion=s.expansion,
        batch=config.batch_size,
        eps=opt.eps,
        decay_nimg=config.schedule.kimg * 1000,
        schedules=dict(
            lr=(opt.learning_rate, opt.final_learning_rate),
            beta2=(opt.b2, opt.final_b2),
            gamma=(reg.r1_gamma, reg.final_r1_gamma),
            ema=(config.ema.half_life_kimg * 1000, config.ema.final_half_life_kimg * 1000),
            aug=(config.augment.ada_p, config.augment.final_ada_p or 0.0),
        ),
        aug=config.augment.kind == "ada",
        steps=steps,
        seed=seed,
    )


def run_peer(python: str, script: str, args: list[str], timeout: float | None = None) -> str:
    """Runs ``peers/<script>`` with ``python`` (which has torch); its stdout, or an
    AssertionError with the end of its stderr."""
    done = subprocess.run(
        [python, os.path.join(PEERS_DIR, script), *args], capture_output=True, text=True, timeout=timeout
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise AssertionError(f"{script} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done.stdout
