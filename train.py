"""Train a GAN.

    python train.py --config configs/dcgan_fashion_mnist.py --workdir runs/fmnist \
        [--config.batch_size=128 --config.optimizer.g.learning_rate=1e-4 ...]

``--config`` also takes the name of a shipped config (``--config dcgan_fashion_mnist``).
Every config field can be overridden with ``--config.<field>=<value>``. Running again
on the same workdir resumes from its latest checkpoint. Installed, the same command is
``gan-jax-train`` (`gan_jax.tools.train`).
"""

from gan_jax.tools import train as train_cli

if __name__ == "__main__":
    train_cli.console_main()
