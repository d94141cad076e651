"""LPIPS VGG16 weights (Zhang et al. 2018) → the `.npz` that `gan_jax.metrics.lpips`
loads (`gan_jax.convert.lpips`).

    python -m gan_jax.tools.convert_lpips --src lpips_state.npz --out lpips_vgg.npz
    python -m gan_jax.tools.convert_lpips --src vgg16.npz --heads vgg_heads.npz --out lpips_vgg.npz

gan_jax reads only .npz and .safetensors, never PyTorch's pickles: save the state dicts
once, offline, with a Python that has torch. Either the ``lpips`` package's model (it
fetches torchvision's ImageNet VGG16 and carries the heads; ``pip install lpips``):

    python -c "import lpips, numpy as np; np.savez('lpips_state.npz', **{k: v.numpy() for k, v in lpips.LPIPS(net='vgg').state_dict().items()})"

or torchvision's VGG16 and the heads file of the ``lpips`` package (or of
github.com/richzhang/PerceptualSimilarity), ``lpips/weights/v0.1/vgg.pth``:

    python -c "import torchvision, numpy as np; np.savez('vgg16.npz', **{k: v.numpy() for k, v in torchvision.models.vgg16(weights='IMAGENET1K_V1').features.state_dict().items()})"
    python -c "import torch, numpy as np; np.savez('vgg_heads.npz', **{k: v.numpy() for k, v in torch.load('vgg.pth', map_location='cpu').items()})"

(``features.state_dict()`` names the convolutions ``0.weight``, ...: they are read as
``features.0.weight``; a whole ``vgg16().state_dict()`` works too, its classifier ignored.)
"""

import math

import numpy as np
from absl import flags

from gan_jax.convert import lpips as convert_lpips
from gan_jax.data.files import load_arrays
from gan_jax.errors import ConfigError
from gan_jax.metrics import lpips
from gan_jax.tools import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Command-line flags, defined only when run as a program (importing stays side-effect free)."""
    flags.DEFINE_string("src", None, "State dict (.npz/.safetensors): lpips.LPIPS(net='vgg') or vgg16.")
    flags.DEFINE_string("heads", None, "The linear heads (lpips/weights/v0.1/vgg.pth as .npz/.safetensors).")
    flags.DEFINE_string("out", "lpips_vgg.npz", "Where to write the converted .npz.")


def read(path: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz or .safetensors state dict; a PyTorch pickle is refused with the way out."""
    if path.endswith((".pth", ".pt", ".bin", ".ckpt")):
        raise ConfigError(
            f"{path}: gan_jax reads no PyTorch pickles; save the state dict as .npz with torch first "
            f"(the torch one-liners are in gan_jax/tools/convert_lpips.py)"
        )
    return load_arrays(path)


def read_sources(src: str, heads: str | None) -> dict[str, np.ndarray]:
    """The state dict in ``src`` merged with the heads in ``heads``; a bare torchvision
    ``features`` state dict (``0.weight``, ...) gets its ``features.`` prefix back."""
    state = read(src)
    if state and all(k.split(".")[0].isdigit() for k in state):
        state = {f"features.{k}": v for k, v in state.items()}
    if heads:
        head_arrays = read(heads)
        both = sorted(set(state) & set(head_arrays))
        if both:
            raise ConfigError(f"{both[0]} is in both {src} and {heads}; give the heads once")
        state = {**state, **head_arrays}
    return state


def convert_files(src: str, heads: str | None, out: str) -> int:
    """Converts ``src`` (+ ``heads``) into ``out``; the number of values written."""
    params = convert_lpips.from_state_dict(read_sources(src, heads))
    lpips.save_params(params, cli.output_path(out))
    return sum(math.prod(s) for s in lpips.parameter_shapes().values())


def main(argv):
    if len(argv) > 1 or not FLAGS.src:
        cli.fail(
            "usage: python -m gan_jax.tools.convert_lpips --src STATE.npz [--heads HEADS.npz] --out FILE.npz"
        )
    count = convert_files(FLAGS.src, FLAGS.heads, FLAGS.out)
    print(f"wrote {len(lpips.parameter_shapes())} arrays ({count:,} values) to {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
