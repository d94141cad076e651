"""Train a GAN: ``gan-jax-train`` (installed) or ``python train.py`` (in the repository).

    gan-jax-train --config dcgan_fashion_mnist --workdir runs/fmnist \
        [--config.batch_size=128 --config.optimizer.g.learning_rate=1e-4 ...]

``--config`` is a config file's path, or the name of a config shipped with gan_jax
(``configs/NAME.py`` of the repository, installed as ``gan_jax.configs``). Every config
field can be overridden with ``--config.<field>=<value>``. Running again on the same
workdir resumes from its latest checkpoint.
"""

from gan_jax.run import preemption  # imports nothing heavy: the signal handler comes first


def define_flags() -> None:
    from absl import flags
    from ml_collections import config_flags

    config_flags.DEFINE_config_file(
        "config",
        None,
        "A config file's path (configs/*.py), or the name of a shipped config (dcgan_fashion_mnist).",
        lock_config=True,
    )
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and logs.")


def main(argv: list[str]) -> None:
    from absl import flags

    from gan_jax.tools import cli

    FLAGS = flags.FLAGS
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}; fields are set as --config.<field>=<value>")
    if FLAGS.config is None or not FLAGS.workdir:
        cli.fail(
            "both --config and --workdir are required, e.g. "
            "python train.py --config configs/dcgan_fashion_mnist.py --workdir runs/fmnist"
        )
    from gan_jax.run import trainer  # after flag parsing, so --help stays fast

    trainer.train_and_evaluate(cli.loaded_config(FLAGS.config), FLAGS.workdir)


def console_main() -> None:
    """The ``gan-jax-train`` console script. Its first act is `preemption.listen_from_start`:
    a SIGTERM at any moment after it, imports and compilation included, ends the command
    with status 0, and the same command resumes."""
    preemption.listen_from_start()
    define_flags()
    from gan_jax.tools import cli

    cli.run(main)


if __name__ == "__main__":
    console_main()
