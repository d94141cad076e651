"""R3GAN on CIFAR-10 at 32x32, class-conditional: the paper's CIFAR-10 preset.

Command:
    python train.py --config configs/r3gan_cifar10.py --workdir runs/r3gan_cifar10 \
        --config.dataset.download=True

Hardware: 8 GPUs in the paper (batch 512); any accelerator count whose total divides the batch.
Data: tfds 'cifar10' train split with its 10 labels.
Recipe: `gan_jax.config.presets.r3gan` with the preset's numbers below (docs/r3gan.md lists
them side by side, and what differs from the authors' training loop).
Cited: FID 1.96 as reported by Huang et al. 2024.
Result here: not yet measured here.
"""

from gan_jax.config import presets
from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="cifar10", resolution=32, channels=3)
    presets.r3gan(
        config,
        widths=(768, 768, 768, 768),
        groups=(96, 96, 96, 96),
        num_classes=10,
        num_bf16_res=3,
        batch_size=512,
        gamma=(0.05, 0.005),
        ema_kimg=5000.0,
        aug_p=0.55,
        decay_kimg=20000.0,
    )
    config.update(log_every=500, sample_every=5_000, checkpoint_every=5_000)
    config.sample.num_images = 100
    return config
