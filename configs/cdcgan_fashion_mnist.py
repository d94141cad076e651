"""Class-conditional DCGAN on Fashion-MNIST at 28x28.

Command:
    python train.py --config configs/cdcgan_fashion_mnist.py --workdir runs/cdcgan_fashion_mnist

Hardware: sized for a 2-core CPU, like configs/dcgan_fashion_mnist.py (3000 steps at batch
64, about 4 minutes).
Data: as configs/dcgan_fashion_mnist.py, with its 10 class labels.
Model: the demo's DCGAN with conditional BatchNorm in G (de Vries et al. 2017) and a
projection discriminator (Miyato & Koyama 2018); sample grids have one row per class.
Expected result: the domain classifier (gan_jax.metrics.classifier) labels samples as
the requested class; measured in docs/evaluation.md.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "fashion_mnist"
    config.dataset.resolution = 28
    config.dataset.channels = 1
    config.model.num_classes = 10
    config.batch_size = 64
    config.num_steps = 3000
    config.log_every = 100
    config.sample_every = 500
    config.checkpoint_every = 1000
    config.sample.num_images = 100
    return config
