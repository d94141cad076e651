"""R3GAN on ImageNet at 64x64, class-conditional: the paper's ImageNet-64 preset.

Command:
    python train.py --config configs/r3gan_imagenet64.py --workdir runs/r3gan_imagenet64 \
        --config.dataset.path=/data/imagenet64

Hardware: 64 GPUs in the paper (batch 4096); any accelerator count whose total divides the batch.
Data: an image folder of downsampled ImageNet, one sub-folder per class (--config.dataset.path=DIR).
Recipe: `gan_jax.config.presets.r3gan` with the preset's numbers below (docs/r3gan.md lists
them side by side, and what differs from the authors' training loop).
Cited: FID 2.09 as reported by Huang et al. 2024.
Result here: not yet measured here.
"""

from gan_jax.config import presets
from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="imagenet64", source="folder", resolution=64, channels=3)
    presets.r3gan(
        config,
        widths=(1536, 1536, 1536, 1536, 1536),
        groups=(96, 96, 96, 96, 96),
        num_classes=1000,
        num_bf16_res=4,
        batch_size=4096,
        gamma=(1.0, 0.1),
        ema_kimg=50000.0,
        aug_p=0.4,
        decay_kimg=200000.0,
    )
    config.update(log_every=500, sample_every=5_000, checkpoint_every=5_000)
    config.sample.num_images = 100
    return config
