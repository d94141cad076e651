"""DCGAN on CelebA faces at 64x64, the setting of Radford et al. 2015's face results.

Command:
    python train.py --config configs/dcgan_celeba64.py --workdir runs/dcgan_celeba64 \
        --config.dataset.download=True --config.dataset.cache_dir=$HOME/.cache/gan_jax

Hardware: one GPU; the first run decodes the 162,770 training images once and caches
them as a 2 GB uint8 array (cache_dir), later runs memory-map it.
Data: tfds 'celeb_a' train split, centre-cropped to 178x178 and resized to 64x64.
Model: generator 512-256-128-64 (width 64), the PyTorch DCGAN tutorial's ngf=ndf=64.
Expected result: recognisable faces by 20k steps at batch 128; FID not yet measured here.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "celeb_a"
    config.dataset.source = "tfds"
    config.dataset.resolution = 64
    config.dataset.channels = 3
    config.dataset.resize = "resize"
    config.model.dcgan.g_width = 64
    config.model.dcgan.d_width = 64
    config.batch_size = 128
    config.num_steps = 40_000
    config.log_every = 200
    config.sample_every = 2000
    config.checkpoint_every = 5000
    return config
