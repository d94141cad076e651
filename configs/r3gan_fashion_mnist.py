"""R3GAN on Fashion-MNIST, sized for a 2-core CPU.

Command:
    python train.py --config configs/r3gan_fashion_mnist.py --workdir runs/r3gan_fmnist

Hardware: a CPU; set num_steps for the time you have.
Data: the Debian package dataset-fashion-mnist when installed (read as IDX files),
otherwise tfds 'fashion_mnist'; 28 px images padded to 32 (R3GAN works at powers of two;
the fd_fmnist metric undoes the padding).
Recipe: `gan_jax.config.presets.r3gan` with the CIFAR-10 preset's structure narrowed for the CPU:
4 stages (4-32 px) of 32 channels, 4 groups of 16 expanded channels, unconditional,
batch 32, gamma 0.05 -> 0.005, EMA half-life 0 -> 10k images, no augmentation, every
schedule over 40k images (1,250 steps: about what one core trains in 20 minutes).
Result (measured, docs/r3gan.md): 20 minutes on one core (1,149 steps, 37k images):
fd_fmnist 316.2 on 10k EMA samples against the test split, the very start of training
(DCGAN in the same 20 minutes: 10.3).
"""

from gan_jax.config import presets
from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="fashion_mnist", resolution=32, channels=1, resize="pad")
    presets.r3gan(
        config,
        widths=(32, 32, 32, 32),
        groups=(4, 4, 4, 4),
        num_classes=0,
        num_bf16_res=0,
        batch_size=32,
        gamma=(0.05, 0.005),
        ema_kimg=10.0,
        aug_p=0.0,
        decay_kimg=40.0,
    )
    config.update(log_every=100, sample_every=1000, checkpoint_every=1000)
    return config
