"""Converts published FID Inception weights into the `.npz` that `gan_jax.metrics.inception` loads.

    python -m gan_jax.tools.convert_inception --src pt_inception-2015-12-05-6726825d.pth \
        --out inception_fid.npz

Sources:
* pytorch-fid's ``pt_inception-2015-12-05-*.pth`` (needs ``torch``; read with
  ``torch.load(weights_only=True)``, which loads tensors only);
* an ``.npz`` of the same state dict (keys like ``Mixed_5b.branch1x1.conv.weight``), as
  NumPy ports of the weights publish it.

Every parameter of the network must be present with its published shape; anything
else in the source (other than BatchNorm's ``num_batches_tracked`` counters) is an
error, so a file for a different network cannot slip through.
"""

import numpy as np

from gan_jax.convert.common import load_state_dict
from gan_jax.errors import GanJaxError
from gan_jax.metrics import inception


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    if path.endswith(".npz"):
        return load_state_dict(path)
    if path.endswith((".pth", ".pt")):
        try:
            import torch
        except ImportError:
            raise GanJaxError(
                f"reading {path} needs torch (pip install torch), or convert it to an "
                f".npz state dict elsewhere"
            ) from None
        state = torch.load(path, map_location="cpu", weights_only=True)
        return {k: v.numpy() for k, v in state.items()}
    raise GanJaxError(f"{path}: expected a .pth or .npz file")


def convert(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """PyTorch state dict → {Flax name: array}, checking every name and shape."""
    layout = inception.torch_layout()
    extra = sorted(k for k in state if k not in layout and not k.endswith("num_batches_tracked"))
    if extra:
        raise GanJaxError(
            f"unexpected parameter {extra[0]} (and {len(extra) - 1} more): not the FID Inception network"
        )
    out = {}
    for torch_name, (flax_name, shape) in layout.items():
        if torch_name not in state:
            raise GanJaxError(f"missing parameter {torch_name}")
        value = np.asarray(state[torch_name], np.float32)
        if value.shape != shape:
            raise GanJaxError(f"{torch_name} has shape {value.shape}, expected {shape}")
        if flax_name.endswith("/kernel"):
            value = value.transpose(2, 3, 1, 0)  # (O, I, kh, kw) → (kh, kw, I, O)
        elif flax_name == "fc_kernel":
            value = value.T
        out[flax_name] = value
    return out
