"""R3GAN on CIFAR-10 at 32x32, class-conditional: the paper's CIFAR-10 preset.

Command:
    python train.py --config configs/r3gan_cifar10.py --workdir runs/r3gan_cifar10 \
        --config.dataset.download=True

Hardware: 8 GPUs in the paper (batch 512); any accelerator count whose total divides the batch.
Data: tfds 'cifar10' train split with its 10 labels.
Model and training after Huang et al. 2024 ("The GAN is dead; long live the GAN!"), the
preset of brownvc/R3GAN's train.py: stage widths (768, 768, 768, 768) (4x4 first, D reversed), 2
residual blocks per stage, groups (96, 96, 96, 96) (16 channels each), expansion 2, z 64; class embedding of 64 in G, projection on the 4x4 stage's width in D;
the 3 highest-resolution stages in bfloat16. RpGAN loss with R1 and R2 every step,
generated images paired with real ones of the same class. Every hyperparameter below
moves on one half-cosine over the first 20M images and then stays: learning rate
2e-4 -> 5e-5 (both networks), Adam beta1 0 and beta2 0.9 -> 0.99, gamma 0.05 -> 0.005, EMA
half-life 0 -> 5M images, augmentation probability 0 -> 0.55. Batch 512.
Augmentation: ADA's ops with cutout ('bgcc'), where R3GAN fires its colour ops at half the
probability. Run length here: the schedule's 20M images. Not reproduced: R3GAN's x-flipped
copy of the dataset (--mirror) and its separate real batch for G's step (G pairs its
images with the step's last real batch here).
Cited: FID 1.96 as reported by Huang et al. 2024.
Result here: not yet measured here.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.update(name="cifar10", resolution=32, channels=3)
    config.model.update(architecture="r3gan", num_classes=10, z_dim=64,
                        stage_widths=(768, 768, 768, 768),
                        stage_blocks=(2, 2, 2, 2), stage_groups=(96, 96, 96, 96),
                        expansion=2, num_bf16_res=3)
    config.loss.update(d_loss="relativistic", g_loss="relativistic", fake_labels="real")
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=2e-4, final_learning_rate=5e-5, b1=0.0,
                                      b2=0.9, final_b2=0.99, eps=1e-8)
    config.regularizer.update(r1_gamma=0.05, final_r1_gamma=0.005, r2_gamma=0.05,
                              final_r2_gamma=0.005)
    config.augment.update(kind="ada", ada_pipeline="bgcc", ada_target=0.0, ada_p=0.0,
                          final_ada_p=0.55)
    config.ema.update(half_life_kimg=0.0, final_half_life_kimg=5000.0)
    config.schedule.update(shape="cosine", kimg=20000.0)
    config.batch_size = 512
    config.num_steps = 39_062
    config.log_every = 500
    config.sample_every = 5_000
    config.checkpoint_every = 5_000
    config.sample.num_images = 100
    return config
