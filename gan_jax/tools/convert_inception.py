"""Published FID Inception weights → the `.npz` that `gan_jax.metrics.inception` loads
(`gan_jax.convert.inception`).

    python -m gan_jax.tools.convert_inception --src pt_inception-2015-12-05-6726825d.pth \\
        --out inception_fid.npz
"""

import numpy as np
from absl import flags

from gan_jax.convert import inception
from gan_jax.tools import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Command-line flags, defined only when run as a program (importing stays side-effect free)."""
    flags.DEFINE_string("src", None, "Published weights: .pth (pytorch-fid) or .npz state dict.")
    flags.DEFINE_string("out", "inception_fid.npz", "Where to write the converted .npz.")


def main(argv):
    if len(argv) > 1 or not FLAGS.src:
        cli.fail("usage: python -m gan_jax.tools.convert_inception --src FILE.pth --out FILE.npz")
    params = inception.convert(inception.read_state_dict(FLAGS.src))
    np.savez(FLAGS.out, **params)
    print(f"wrote {len(params)} arrays ({sum(v.size for v in params.values()):,} values) to {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
