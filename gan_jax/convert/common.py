"""What the converters share: reading a flat state dict, and PyTorch's layouts."""

import numpy as np

from gan_jax.errors import ConfigError


def load_state_dict(path: str) -> dict[str, np.ndarray]:
    """{name: array} from an ``.npz`` or ``.safetensors`` file."""
    if path.endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read {path}: {e}") from None
    if path.endswith(".safetensors"):
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise ConfigError(
                f"reading {path} needs the safetensors package (pip install "
                f"safetensors); or save the state dict as .npz"
            ) from None
        return load_file(path)
    raise ConfigError(f"{path}: expected an .npz or .safetensors state dict")


def torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The PyTorch shape of a gan_jax array: HWIO → OIHW, HWC → CHW, [in, out] → [out, in]."""
    if len(shape) == 4:  # HWIO → OIHW
        return (shape[3], shape[2], shape[0], shape[1])
    if len(shape) == 3:  # HWC → CHW
        return (shape[2], shape[0], shape[1])
    return tuple(reversed(shape)) if len(shape) == 2 else tuple(shape)


def from_torch(value: np.ndarray) -> np.ndarray:
    """A PyTorch array in gan_jax's layout: OIHW → HWIO, CHW → HWC, [out, in] → [in, out]."""
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 3:
        return value.transpose(1, 2, 0)
    return value.T if value.ndim == 2 else value
