"""What the converters share: reading a flat state dict, and PyTorch's layouts."""

import os

import numpy as np

from gan_jax.errors import ConfigError


def load_state_dict(path: str) -> dict[str, np.ndarray]:
    """{name: array} from an ``.npz`` or ``.safetensors`` file; one `ConfigError` line
    naming the file when it is missing, a folder, or not what its name says."""
    if not path.endswith((".npz", ".safetensors")):
        raise ConfigError(f"{path}: expected an .npz or .safetensors state dict")
    if not os.path.exists(path):
        raise ConfigError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ConfigError(f"{path} is not a file")
    if path.endswith(".npz") and not _starts_with(path, (b"PK\x03\x04", b"PK\x05\x06")):
        raise ConfigError(f"{path} is not an .npz (a zip of .npy arrays): it does not begin as a zip file")
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        from safetensors.numpy import load_file

        return load_file(path)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ConfigError(
                f"{path} holds Python objects, which gan_jax never unpickles; save plain arrays"
            ) from None
        raise ConfigError(f"cannot read {path}: {' '.join(str(e).split())}") from None
    except Exception as e:  # noqa: BLE001 (OSError, zipfile.BadZipFile, safetensors' SafetensorError, ...)
        kind = "an .npz (a zip of .npy arrays)" if path.endswith(".npz") else "safetensors"
        raise ConfigError(f"cannot read {path} as {kind}: {' '.join(str(e).split())[:300]}") from None


def _starts_with(path: str, prefixes: tuple[bytes, ...]) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in prefixes


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
