"""R3GAN on Fashion-MNIST, sized for a 2-core CPU.

Command:
    python train.py --config configs/r3gan_fashion_mnist.py --workdir runs/r3gan_fmnist

Hardware: a CPU; set num_steps for the time you have.
Data: the Debian package dataset-fashion-mnist when installed (read as IDX files),
otherwise tfds 'fashion_mnist'; 28 px images padded to 32 (R3GAN works at powers of two;
the fd_fmnist metric undoes the padding).
Model: R3GAN (Huang et al. 2024) with the CIFAR-10 preset's structure, narrowed for the
CPU: 4 stages (4-32 px) of 64 channels, 2 residual blocks each, expansion 2, grouped 3x3
convolutions of 16 channels per group (8 groups), z 64, unconditional. RpGAN loss with R1
and R2 every step. Schedules as the presets', over this run (half-cosine): learning rate
2e-4 -> 5e-5, Adam beta1 0, beta2 0.9 -> 0.99, gamma 0.05 -> 0.005, EMA half-life
0 -> 20k images. No augmentation (60k images are plenty at this size).
Result here: not yet measured here.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="fashion_mnist", resolution=32, channels=1, resize="pad")
    config.model.update(architecture="r3gan", num_classes=0, z_dim=64,
                        stage_widths=(64, 64, 64, 64), stage_blocks=(2, 2, 2, 2),
                        stage_groups=(8, 8, 8, 8), expansion=2)
    config.loss.update(d_loss="relativistic", g_loss="relativistic", fake_labels="real")
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=2e-4, final_learning_rate=5e-5, b1=0.0,
                                      b2=0.9, final_b2=0.99, eps=1e-8)
    config.regularizer.update(r1_gamma=0.05, final_r1_gamma=0.005, r2_gamma=0.05,
                              final_r2_gamma=0.005)
    config.ema.update(half_life_kimg=0.0, final_half_life_kimg=20.0)
    config.schedule.update(shape="cosine", kimg=0.0)
    config.batch_size = 32
    config.num_steps = 4000
    config.log_every = 100
    config.sample_every = 1000
    config.checkpoint_every = 1000
    return config
