"""SNGAN ResNet on Fashion-MNIST at 28x28, unconditional; a CPU-sized counterpart of
configs/sngan_cifar10.py.

Command:
    python train.py --config configs/sngan_fashion_mnist.py --workdir runs/sngan_fashion_mnist

Hardware: sized for a 2-core CPU (widths 32, n_critic 1).
Data: as configs/dcgan_fashion_mnist.py.
Model: Miyato et al. 2018's ResNet G/D (7 -> 14 -> 28), G and D widths 32, hinge loss,
Adam(2e-4, b1=0, b2=0.9).
Expected result (measured here, docs/evaluation.md): fd_fmnist 68.8 after the 3000
steps (~16 minutes at 3.2 steps/s on the 2-core CPU).
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "fashion_mnist"
    config.dataset.resolution = 28
    config.dataset.channels = 1
    config.model.architecture = "sngan"
    config.model.z_dim = 128
    config.model.sngan.g_width = 32
    config.model.sngan.d_width = 32
    config.loss.d_loss = config.loss.g_loss = "hinge"
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=2e-4, b1=0.0, b2=0.9)
    config.batch_size = 64
    config.num_steps = 3000
    config.sample_every = 500
    config.checkpoint_every = 1000
    return config
