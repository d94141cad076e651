"""BigGAN-style class-conditional GAN with DiffAugment on CIFAR-10 at 32x32.

Command:
    python train.py --config configs/biggan_cifar10.py --workdir runs/biggan_cifar10 \
        --config.dataset.download=True

Hardware: one GPU.
Data: tfds 'cifar10' train split with its 10 labels.
Model and training after Zhao et al. 2020's BigGAN + DiffAugment CIFAR-10 setting (built
on BigGAN-PyTorch's CIFAR model): G and D width 256 (4 x 64), shared class embedding,
projection D, hinge loss, Adam(2e-4, b1=0, b2=0.999) for both, 4 D steps per G step,
batch 50, DiffAugment 'color,translation,cutout', EMA generator. Differences: hierarchical
z and spectral norm in G as in BigGAN's ImageNet models, no self-attention at 32 px.
Anchor: Zhao et al. report IS 9.16 and FID 8.70 (10k samples) for BigGAN + DiffAugment
on all of CIFAR-10, and FID 9.59 without DiffAugment.
Result here: not yet measured here.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "cifar10"
    config.dataset.resolution = 32
    config.dataset.channels = 3
    config.model.update(architecture="biggan", num_classes=10, z_dim=128)
    config.model.biggan.update(g_width=256, d_width=256, shared_dim=128, hierarchical_z=True, attention_res=0)
    config.loss.d_loss = config.loss.g_loss = "hinge"
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=2e-4, b1=0.0, b2=0.999)
    config.augment.kind = "diffaugment"
    config.augment.policy = "color,translation,cutout"
    config.n_critic = 4
    config.batch_size = 50
    config.num_steps = 100_000
    config.ema.decay = 0.9999
    config.log_every = 500
    config.sample_every = 5000
    config.checkpoint_every = 5000
    config.sample.num_images = 100
    return config
