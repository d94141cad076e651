"""What the converters share: reading a flat state dict, and PyTorch's layouts."""

import numpy as np

from gan_jax.data.files import load_arrays as load_state_dict  # noqa: F401 (the converters' reader)


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
