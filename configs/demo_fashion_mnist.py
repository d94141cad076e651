"""`make demo`: DCGAN on Fashion-MNIST with a decaying learning rate, sized for the 20
minutes `make demo` may take on a 2-core CPU, evaluated at the end.

Command:
    python train.py --config configs/demo_fashion_mnist.py --workdir runs/demo

Hardware: a 2-core CPU trains it at 11-24 steps/s (18,000 steps in 13-18 minutes; `make
demo` with its install 16-20 minutes); on a GPU it takes a minute or two.
Data: the Debian package dataset-fashion-mnist when installed (read as IDX files),
otherwise tfds 'fashion_mnist' (add --config.dataset.download=True the first time).
Model: the DCGAN of configs/dcgan_fashion_mnist.py (Radford et al. 2015 at 28 px, widths
64), non-saturating loss, Adam(b1=0.5) for both networks, EMA 0.999 of G. What differs
from that config is the schedule: learning rate 6e-4 (three times DCGAN's 2e-4) decayed
to 0 on a half-cosine over the 18,000 steps (1.15M images, about 19 epochs). Chosen by
runs of 14,000 steps on one core each, fd_fmnist at the end (10k EMA samples against the
test split): 2e-4 -> 0: 12.64; 4e-4 -> 0: 10.07; 6e-4 -> 0: 8.23; 1e-3 -> 0: 11.66 at
6,000 and 9.68 at 8,000 steps, behind 6e-4 (10.91, 9.32) there (stopped); table in
docs/evaluation.md. `make demo` with 6e-4 over 13,000 steps from a fresh clone: fd_fmnist
8.36 in 11 min 48 s including the install; the 18,000 steps here use the rest of the
20-minute budget.
Evaluation: fd_fmnist on 10k EMA samples at the last step (eval.jsonl, and the log).
Result (measured, `make demo` from a fresh clone on a 2-core AMD EPYC, 2026-12-02):
fd_fmnist 7.36 after 18,000 steps, 19 min 56 s including the install, with the host's
speed varying between 11 and 20 steps/s.
"""

from gan_jax.config import base_config


def get_config():
    config = base_config()
    config.dataset.name = "fashion_mnist"
    config.dataset.resolution = 28
    config.dataset.channels = 1
    config.batch_size = 64
    config.num_steps = 18_000
    for side in ("g", "d"):
        config.optimizer[side].update(learning_rate=6e-4, final_learning_rate=0.0)
    config.schedule.update(shape="cosine", kimg=0.0)
    config.log_every = 500
    config.sample_every = 2000
    config.checkpoint_every = 2000
    config.eval_every = 18_000
    config.eval.metrics = "fd_fmnist"
    return config
