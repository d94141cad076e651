"""SNGAN ResNet on CIFAR-10 at 32x32, unconditional (Miyato et al. 2018).

Command:
    python train.py --config configs/sngan_cifar10.py --workdir runs/sngan_cifar10 \
        --config.dataset.download=True

Hardware: one GPU (the paper's 50k generator updates with 5 D steps each).
Data: tfds 'cifar10' train split.
Model and training as the paper's ResNet CIFAR-10 setting (appendix B.4): G width 256,
spectrally normalised D width 128, hinge loss, Adam(2e-4, b1=0, b2=0.9), n_critic 5,
batch 64.
Anchor: the paper reports Inception Score 8.22 and FID 21.7 for this model (Table 2).
Result here: not yet measured here.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "cifar10"
    config.dataset.source = "tfds"
    config.dataset.resolution = 32
    config.dataset.channels = 3
    config.model.architecture = "sngan"
    config.model.z_dim = 128
    config.model.sngan.g_width = 256
    config.model.sngan.d_width = 128
    config.loss.d_loss = config.loss.g_loss = "hinge"
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=2e-4, b1=0.0, b2=0.9)
    config.n_critic = 5
    config.batch_size = 64
    config.num_steps = 50_000
    config.log_every = 200
    config.sample_every = 2500
    config.checkpoint_every = 5000
    return config
