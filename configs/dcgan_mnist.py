"""DCGAN on MNIST digits at 28x28.

Command:
    python train.py --config configs/dcgan_mnist.py --workdir runs/dcgan_mnist \
        [--config.dataset.download=True]

Hardware: the network and steps of configs/dcgan_fashion_mnist.py: about 3.5 minutes for
the 3000 steps on a 2-core CPU; any GPU in under one.
Data: tfds 'mnist' (or a local IDX directory with --config.dataset.path=DIR, or the
Debian 'mnist' files under /usr/share/datasets/mnist when present).
Expected result: legible digits in the EMA grid within 3000 steps (not yet measured).
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "mnist"
    config.dataset.resolution = 28
    config.dataset.channels = 1
    config.batch_size = 64
    config.num_steps = 3000
    config.sample_every = 500
    return config
