"""R3GAN on FFHQ at 64x64, unconditional: the paper's FFHQ-64 preset.

Command:
    python train.py --config configs/r3gan_ffhq64.py --workdir runs/r3gan_ffhq64 \
        --config.dataset.path=/data/ffhq64

Hardware: 8 GPUs in the paper (batch 256); any accelerator count whose total divides the batch.
Data: an image folder of FFHQ downsampled to 64x64 (--config.dataset.path=DIR).
Recipe: `gan_jax.config.presets.r3gan` with the preset's numbers below (docs/r3gan.md lists
them side by side, and what differs from the authors' training loop).
Cited: FID 1.95 as reported by Huang et al. 2024.
Result here: not yet measured here.
"""

from gan_jax.config import presets
from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="ffhq64", source="folder", resolution=64, channels=3)
    presets.r3gan(
        config,
        widths=(768, 768, 768, 768, 384),
        groups=(96, 96, 96, 96, 48),
        num_classes=0,
        num_bf16_res=4,
        batch_size=256,
        gamma=(2.0, 0.2),
        ema_kimg=500.0,
        aug_p=0.3,
        decay_kimg=20000.0,
    )
    config.update(log_every=500, sample_every=5_000, checkpoint_every=5_000)
    config.sample.num_images = 100
    return config
