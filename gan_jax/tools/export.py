"""A run's EMA generator as one safetensors file, for use without gan_jax's training code.

    python -m gan_jax.tools.export --workdir W [--checkpoint STEP|best] --out generator.safetensors

The file holds exactly the variables ``python -m gan_jax.tools.generate`` samples with: the EMA
weights of the checkpoint (the latest, ``--checkpoint STEP``, or ``--checkpoint best``) and
the generator's other collections, its BatchNorm statistics recomputed on the run's
standing batch (`sample.standing_stats`), plus the run's config; `gan_jax.run.exported` has the
layout and `gan_jax.load_generator` reads it back:

    gen = gan_jax.load_generator("generator.safetensors")
    images = gen(seeds=range(64))   # uint8 (64, H, W, C), generate's pixels for those seeds
"""

import os

import ml_collections
from absl import flags

from gan_jax.tools import cli
from gan_jax.run import exported
from gan_jax.run import generator
from gan_jax.run import writers
from gan_jax.errors import ConfigError


def define_flags() -> None:
    """Command-line flags, defined only when run as a program (importing stays side-effect free)."""
    flags.DEFINE_string("workdir", None, "The run to export.")
    flags.DEFINE_string("checkpoint", None, "Checkpoint step, or 'best' (default: the latest).")
    flags.DEFINE_string("out", None, "The .safetensors file to write.")


FLAGS = flags.FLAGS


def generator_variables(
    workdir: str, which: str | None = None
) -> tuple[ml_collections.ConfigDict, int, dict]:
    """(config, step, variables) of the EMA generator of checkpoint ``which`` (None: the
    latest; a step; 'best'): ``{"params": EMA weights, **collections}`` with the standing
    BatchNorm statistics, the variables generate samples with (`generator.sampling_variables`)."""
    return generator.sampling_variables(workdir, which)


def _check_out(out: str) -> str:
    if not out.lower().endswith(".safetensors"):
        raise ConfigError(f"--out={out!r}: the file must end in .safetensors")
    if os.path.isdir(out):
        raise ConfigError(f"--out={out!r} is a directory; give the file to write")
    return cli.output_path(out)


def export(workdir: str, out: str, which: str | None = None) -> str:
    """Writes checkpoint ``which`` of ``workdir``'s EMA generator to ``out``; returns ``out``.
    The file appears complete or not at all (written beside it, then renamed)."""
    _check_out(out)
    config, step, variables = generator_variables(workdir, which)
    writers.log(f"exporting the EMA generator of {workdir} at step {step} to {out}")
    data = exported.encode(config, step, variables)
    tmp = out + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except OSError as e:
        if os.path.isfile(tmp):
            os.remove(tmp)
        raise ConfigError(f"cannot write {out}: {e.strerror or e}") from None
    return out


def main(argv):
    writers.quiet_library_logs()
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    if not FLAGS.workdir or not FLAGS.out:
        cli.fail("--workdir and --out are required")
    print(f"wrote {export(FLAGS.workdir, FLAGS.out, FLAGS.checkpoint)}")


def console_main() -> None:
    """The ``gan-jax-export`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
