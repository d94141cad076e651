"""StyleGAN2-ADA on FFHQ at 256x256: NVlabs' 'paper256' configuration.

Command:
    python train.py --config configs/stylegan2_ffhq256.py --workdir runs/stylegan2_ffhq256 \
        --config.dataset.path=/data/ffhq256

Hardware: 8 GPUs in the paper (25M images shown); the global batch of 64 is split over
the devices.
Data: a folder of FFHQ images (the 70k aligned faces, resized to 256 with a box filter as
NVlabs' dataset tool does for its FID numbers); x-flips double it in the paper.
Model and training after Karras et al. 2020 (ADA), configuration 'paper256':
channel_base 16384, channel_max 512, 8-layer mapping network, residual D with
minibatch-std groups of 8, style mixing 0.9, path length weight 2 every 4 steps, R1 γ = 1
every 16 steps, Adam(0.0025, β = (0, 0.99)), batch 64, EMA half-life 20k images, ADA 'bgc'.
Cited: the ADA paper's FFHQ 256x256 curves (its Figure 7) reach FID of about 3.8 with the
full 70k images with x-flips, 50k samples against the full dataset.
Result here: not yet measured here.
"""

from gan_jax.config import presets
from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="ffhq", source="folder", resolution=256, channels=3, resize="resize")
    config.model.update(architecture="stylegan2", num_classes=0, z_dim=512)
    config.model.stylegan2.update(
        w_dim=512,
        mapping_layers=8,
        channel_base=16384,
        channel_max=512,
        style_mixing_prob=0.9,
        mbstd_group=8,
        conv_clamp=256.0,
    )
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=0.0025, b1=0.0, b2=0.99, eps=1e-8)
    config.regularizer.update(r1_gamma=1.0, r1_every=16, pl_weight=2.0, pl_every=4)
    config.augment.update(kind="ada", ada_target=0.6, ada_interval=4, ada_kimg=500.0)
    config.ema.update(half_life_kimg=20.0)
    presets.nvlabs_loop(config)
    config.batch_size = 64
    config.num_steps = 25_000_000 // 64
    config.log_every = 500
    config.sample_every = 5000
    config.checkpoint_every = 5000
    config.sample.num_images = 32
    return config
