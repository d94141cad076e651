"""DCGAN on Fashion-MNIST at 28x28: the default config (`make demo` runs its longer schedule,
configs/demo_fashion_mnist.py).

Command:
    python train.py --config configs/dcgan_fashion_mnist.py --workdir runs/dcgan_fashion_mnist

Hardware: sized for a 2-core CPU (3000 steps in about 3.5 minutes); on a GPU raise
num_steps to 20_000 for sharper samples.

Data: the Debian package dataset-fashion-mnist when installed (read as IDX files),
otherwise tfds 'fashion_mnist' (add --config.dataset.download=True the first time).

Model: Radford et al. 2015 at MNIST scale, 7 -> 14 -> 28, g_width = d_width = 64.
Loss: non-saturating cross-entropy for D and G; Adam(2e-4, b1=0.5) for both.

Expected result: recognisable garments (shirts, trousers, shoes, bags) in the EMA
sample grid by step 3000; fd_fmnist 26.9–28.9 (10k EMA samples against the test split;
the spread is rounding between equivalent layer forms, docs/evaluation.md). Measured on
a 2-core CPU: 16.6 steps/s, 3 min 42 s from a fresh clone, install included.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "fashion_mnist"
    config.dataset.resolution = 28
    config.dataset.channels = 1
    config.batch_size = 64
    config.num_steps = 3000
    config.log_every = 100
    config.sample_every = 500
    config.checkpoint_every = 1000
    return config
