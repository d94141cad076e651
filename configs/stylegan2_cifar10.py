"""StyleGAN2-ADA on CIFAR-10 at 32x32, class-conditional: NVlabs' 'cifar' configuration.

Command:
    python train.py --config configs/stylegan2_cifar10.py --workdir runs/stylegan2_cifar10 \
        --config.dataset.download=True
    (unconditional: add --config.model.num_classes=0)

Hardware: 2 GPUs in the paper (100M images shown, about two days on V100s); any
accelerator count whose total divides the batch of 64.
Data: tfds 'cifar10' train split with its 10 labels.
Model and training after Karras et al. 2020 ("Training Generative Adversarial Networks with
Limited Data"), configuration 'cifar' of stylegan2-ada-pytorch: channel_base 32768 and
channel_max 512 (512 channels at every resolution), a 2-layer mapping network, residual D
replaced by the plain ('orig') one, minibatch-std groups of 32, no style mixing, no path
length regularization, R1 γ = 0.01 every 16 steps, Adam(0.0025, β = (0, 0.99)) for both
(G's at NVlabs' lazy scaling: lr 0.002, β₂ = 0.99^0.8, see below), batch 64, EMA half-life
500k images with ramp-up 0.05, ADA 'bgc' with target 0.6, NVlabs' loop (phases G first).
Cited: FID 2.42 conditional (the paper's abstract; IS 10.14) and 2.92 unconditional (IS
9.83), 50k samples against the training set.
Result here: not yet measured here.
"""

from gan_jax.config import presets
from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="cifar10", resolution=32, channels=3)
    config.model.update(architecture="stylegan2", num_classes=10, z_dim=512)
    config.model.stylegan2.update(
        w_dim=512,
        mapping_layers=2,
        channel_base=32768,
        channel_max=512,
        style_mixing_prob=0.0,
        mbstd_group=32,
        conv_clamp=256.0,
        d_architecture="orig",
    )
    config.loss.d_loss = config.loss.g_loss = "non_saturating"
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=0.0025, b1=0.0, b2=0.99, eps=1e-8)
    # NVlabs' loop regularises G lazily every 4 steps even with path length off (an empty
    # Greg phase), so its G's Adam runs at lr·c and β^c, c = 4/5 (docs/stylegan2.md).
    config.optimizer.g.update(learning_rate=0.0025 * 0.8, b2=0.99**0.8)
    config.regularizer.update(r1_gamma=0.01, r1_every=16, pl_weight=0.0)
    config.augment.update(kind="ada", ada_target=0.6, ada_interval=4, ada_kimg=500.0)
    config.ema.update(half_life_kimg=500.0, rampup=0.05)
    presets.nvlabs_loop(config)
    config.batch_size = 64
    config.num_steps = 100_000_000 // 64
    config.log_every = 500
    config.sample_every = 10_000
    config.checkpoint_every = 10_000
    config.sample.num_images = 100
    return config
