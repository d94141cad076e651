"""What the converters' command lines share: a state dict (``--src``) into a new run
(``--workdir``) of ``--config``, whose architecture must be the converter's."""

from absl import flags
from ml_collections import config_flags

from gan_jax import config as config_lib
from gan_jax.convert.common import load_state_dict
from gan_jax.errors import ConfigError
from gan_jax.run import converted, writers
from gan_jax.tools import cli

FLAGS = flags.FLAGS


def define_flags(architecture: str) -> None:
    config_flags.DEFINE_config_file(
        "config",
        None,
        f"The run's config (configs/{architecture}_*.py), sized like the network",
        lock_config=True,
    )
    flags.DEFINE_string("src", None, "State dict of the published network (.npz or .safetensors)")
    flags.DEFINE_string("workdir", None, "New workdir for the converted checkpoint")


def main(argv: list[str], architecture: str, convert_fn, example: str) -> None:
    module = f"gan_jax.tools.convert_{architecture}"
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    if not (FLAGS.src and FLAGS.config and FLAGS.workdir):
        cli.fail(
            f"--src, --config and --workdir are required, e.g. python -m {module} "
            f"--src net.npz --config configs/{example}.py --workdir runs/{example}"
        )
    writers.quiet_library_logs()
    config = cli.loaded_config(FLAGS.config)
    config_lib.validate(config)
    if config.model.architecture != architecture:
        raise ConfigError(
            f"model.architecture={config.model.architecture!r}: {module} makes "
            f"{architecture} runs; use a {architecture}_* config"
        )
    converted.refuse_a_run(FLAGS.workdir)  # before the file is read: a trained run is never a target
    with_d = converted.write_run(config, load_state_dict(FLAGS.src), convert_fn, FLAGS.workdir)
    writers.log(
        f"wrote {FLAGS.workdir}/checkpoints/0 from {FLAGS.src} (G, G_ema"
        f"{', D' if with_d else '; D left at its initialisation: the file has no D.*'}); "
        f"sample it with python -m gan_jax.tools.generate --workdir {FLAGS.workdir}, or train "
        f"from it with python train.py --config ... --workdir {FLAGS.workdir}"
    )


def run_converter(architecture: str, convert_fn, example: str) -> None:
    define_flags(architecture)
    cli.run(lambda argv: main(argv, architecture, convert_fn, example))
