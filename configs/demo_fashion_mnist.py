"""`make demo`: DCGAN on Fashion-MNIST, widths 48, with a decaying learning rate, sized for
the 20 minutes `make demo` may take on a 2-core CPU, evaluated at the end.

Command:
    python train.py --config configs/demo_fashion_mnist.py --workdir runs/demo

Hardware: a 2-core CPU trains it at 17-24 steps/s (20,000 steps in 14-19 minutes); on a
GPU it takes a minute or two.
Data: the Debian package dataset-fashion-mnist when installed (read as IDX files),
otherwise tfds 'fashion_mnist' (add --config.dataset.download=True the first time).
Model: the DCGAN of configs/dcgan_fashion_mnist.py (Radford et al. 2015 at 28 px) with G
and D widths 48 instead of 64 (G 545k, D 79k parameters), non-saturating loss,
Adam(b1=0.5) for both networks, EMA 0.999 of G. The schedule: learning rate 6e-4 (three
times DCGAN's 2e-4) decayed to 0 on a half-cosine over the 20,000 steps (1.28M images,
about 21 epochs).
Chosen by runs on one core each, fd_fmnist at the end (10k EMA samples against the test
split; docs/evaluation.md has the tables). The learning rate, widths 64, 14,000 steps:
2e-4 -> 0: 12.64; 4e-4 -> 0: 10.07; 6e-4 -> 0: 8.23; 1e-3 -> 0 behind 6e-4 at 6,000 and
8,000 steps. The width at 6e-4 -> 0: a step of widths 48 is 1.33x faster on two cores
(`benchmarks/step_ab.py`) and was better per step: widths 48, 24,000 steps: 6.24 (7.15 at
12,000); widths 32 (3x faster), 56,000 steps: 7.04. `make demo` with widths 64 and 18,000
steps, from a fresh clone: fd_fmnist 7.36 in 19 min 56 s including the install.
Evaluation: fd_fmnist on 10k EMA samples at the last step (eval.jsonl, and the log).
Result (measured, `make demo` from a fresh clone on a 2-core AMD EPYC, 2026-12-03):
fd_fmnist 6.89 after 20,000 steps, 20 min 7 s including the install, at 17.5 steps/s on
a host running about 40% slower that day than the day of the 7.36 run.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "fashion_mnist"
    config.dataset.resolution = 28
    config.dataset.channels = 1
    config.batch_size = 64
    config.model.dcgan.g_width = 48
    config.model.dcgan.d_width = 48
    config.num_steps = 20_000
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=6e-4, final_learning_rate=0.0)
    config.schedule.update(shape="cosine", kimg=0.0)
    config.log_every = 500
    config.sample_every = 2000
    config.checkpoint_every = 2000
    config.eval_every = 20_000
    config.eval.metrics = "fd_fmnist"
    return config
