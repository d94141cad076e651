"""Train a GAN.

    python train.py --config configs/dcgan_fashion_mnist.py --workdir runs/fmnist \
        [--config.batch_size=128 --config.optimizer.g.learning_rate=1e-4 ...]

Every config field can be overridden with ``--config.<field>=<value>``. Running again
on the same workdir resumes from its latest checkpoint.
"""

from absl import flags
from ml_collections import config_flags

from gan_jax import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to a config file (configs/*.py).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and logs.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}; fields are set as --config.<field>=<value>")
    if FLAGS.config is None or not FLAGS.workdir:
        cli.fail("both --config and --workdir are required, e.g. "
                 "python train.py --config configs/dcgan_fashion_mnist.py --workdir runs/fmnist")
    from gan_jax import trainer  # after flag parsing, so --help stays fast

    trainer.train_and_evaluate(cli.loaded_config(FLAGS.config), FLAGS.workdir)


if __name__ == "__main__":
    cli.run(main)
