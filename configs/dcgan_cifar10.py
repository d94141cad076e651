"""DCGAN on CIFAR-10 at 32x32 (unconditional).

Command:
    python train.py --config configs/dcgan_cifar10.py --workdir runs/dcgan_cifar10 \
        --config.dataset.download=True

Hardware: one GPU (A100/H100 class), about 20 minutes for 50k steps at batch 128.
Data: tfds 'cifar10' train split (50k images).
Model: 4x4 -> 8 -> 16 -> 32, generator widths 256-128-64, the usual CIFAR-10 DCGAN.
Expected result: object-like 32x32 samples; FID not yet measured here.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "cifar10"
    config.dataset.source = "tfds"
    config.dataset.resolution = 32
    config.dataset.channels = 3
    config.model.dcgan.g_width = 64
    config.model.dcgan.d_width = 64
    config.batch_size = 128
    config.num_steps = 50_000
    config.log_every = 200
    config.sample_every = 2500
    config.checkpoint_every = 5000
    return config
