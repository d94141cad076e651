"""StyleGAN2 on Fashion-MNIST, sized for a 2-core CPU.

Command:
    python train.py --config configs/stylegan2_fashion_mnist.py --workdir runs/stylegan2_fmnist

Hardware: a CPU; on one core of a 2-core AMD EPYC it trains at 2.4-3.0 steps/s after about
4.5 minutes of compiling its three step programs; set num_steps for the time you have.
Data: the Debian package dataset-fashion-mnist when installed (read as IDX files),
otherwise tfds 'fashion_mnist'; 28 px images padded to 32 (StyleGAN2 works at powers of
two; the fd_fmnist metric undoes the padding).
Model: StyleGAN2 (Karras et al. 2020) as NVlabs' 'auto' configuration sets it for 32 px
and batch 32, narrowed for the CPU: a 2-layer mapping network (w 128), channels
min(1024 / r, 64) per resolution r (64 at 4-16 px, 32 at 32 px), skip generator, residual D
with minibatch std over groups of 4, style mixing 0.9, R1 γ = 0.0002·32²/32 ≈ 0.01 every 16
steps, path length weight 2 every 4 steps on half the batch, Adam(0.0025, β = (0, 0.99)),
EMA half-life 10k images with ramp-up 0.05, no augmentation (60k images are plenty at
this size).
Result (measured, docs/stylegan2.md): after 20 minutes on one core (2,874 steps, 92k images)
fd_fmnist 124.4, precision 0.68, recall 0.005 on 10k EMA samples against the test split:
far from converged at that budget (DCGAN in the same 20 minutes: fd_fmnist 10.3).
"""

from gan_jax.config import presets
from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="fashion_mnist", resolution=32, channels=1, resize="pad")
    config.model.update(architecture="stylegan2", num_classes=0, z_dim=128)
    config.model.stylegan2.update(
        w_dim=128,
        mapping_layers=2,
        channel_base=1024,
        channel_max=64,
        style_mixing_prob=0.9,
        mbstd_group=4,
        conv_clamp=256.0,
    )
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=0.0025, b1=0.0, b2=0.99, eps=1e-8)
    config.regularizer.update(r1_gamma=0.01, r1_every=16, pl_weight=2.0, pl_every=4)
    config.ema.update(half_life_kimg=10.0, rampup=0.05)
    presets.nvlabs_loop(config)
    config.batch_size = 32
    config.num_steps = 4000
    config.log_every = 100
    config.sample_every = 1000
    config.checkpoint_every = 1000
    config.sample.num_images = 64
    return config
