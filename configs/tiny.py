"""A few-second run for tests and smoke checks: a narrow 28px DCGAN on 256 examples.

Command:
    python train.py --config configs/tiny.py --workdir /tmp/tiny

Hardware: any CPU; about 20 seconds including compilation.
Data: Fashion-MNIST's first 256 training images when the Debian files are installed
(dataset-fashion-mnist); on a machine without them, built-in synthetic data (256
generated blobs of 10 classes, ``dataset.source='synthetic'``), so it runs anywhere,
offline, with nothing to prepare. ``--config.dataset.source=auto
--config.dataset.path=DIR`` trains on your own files instead.
Expected result: none; it checks that the whole pipeline runs and resumes.
"""

import os

from gan_jax.config import base_config
from gan_jax.data.sources import KNOWN_LOCAL


def get_config():
    config = base_config()
    config.dataset.name = "fashion_mnist"
    installed = any(os.path.isdir(p) for p in KNOWN_LOCAL["fashion_mnist"])
    config.dataset.source = "auto" if installed else "synthetic"
    config.dataset.resolution = 28
    config.dataset.channels = 1
    config.dataset.max_examples = 256
    config.model.z_dim = 16
    config.model.dcgan.g_width = 8
    config.model.dcgan.d_width = 8
    config.batch_size = 16
    config.num_steps = 8
    config.log_every = 2
    config.sample_every = 4
    config.checkpoint_every = 4
    config.sample.num_images = 16
    config.sample.standing_stats = 64
    return config
