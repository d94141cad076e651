"""StyleGAN2 on FFHQ at 1024x1024: NVlabs' 'stylegan2' configuration (config F).

Command:
    python train.py --config configs/stylegan2_ffhq1024.py --workdir runs/stylegan2_ffhq1024 \
        --config.dataset.path=/data/ffhq1024

Hardware: 8 GPUs in the paper (25M images shown); the global batch of 32 is split over
the devices. bfloat16 on the 4 highest resolutions (NVlabs uses float16 there), with the
convolution outputs clamped to ±256.
Data: a folder of the 70k aligned FFHQ images at 1024 px.
Model and training after Karras et al. 2020 ("Analyzing and Improving the Image Quality of
StyleGAN"), configuration F as stylegan2-ada-pytorch's 'stylegan2' preset: channel_base
32768, channel_max 512, 8-layer mapping network, residual D with minibatch-std groups of 4,
style mixing 0.9, path length weight 2 every 4 steps, R1 γ = 10 every 16 steps,
Adam(0.002, β = (0, 0.99)), batch 32, EMA half-life 10k images, no augmentation.
Cited: FID 2.84 (the StyleGAN2 paper's Table 1, config F, 50k samples).
Result here: not yet measured here.
"""

from gan_jax.config import presets
from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="ffhq", source="folder", resolution=1024, channels=3)
    config.model.update(architecture="stylegan2", num_classes=0, z_dim=512)
    config.model.stylegan2.update(
        w_dim=512,
        mapping_layers=8,
        channel_base=32768,
        channel_max=512,
        style_mixing_prob=0.9,
        mbstd_group=4,
        conv_clamp=256.0,
        num_bf16_res=4,
    )
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=0.002, b1=0.0, b2=0.99, eps=1e-8)
    config.regularizer.update(r1_gamma=10.0, r1_every=16, pl_weight=2.0, pl_every=4)
    config.ema.update(half_life_kimg=10.0)
    presets.nvlabs_loop(config)
    config.batch_size = 32
    config.num_steps = 25_000_000 // 32
    config.log_every = 500
    config.sample_every = 5000
    config.checkpoint_every = 5000
    config.sample.num_images = 16
    return config
