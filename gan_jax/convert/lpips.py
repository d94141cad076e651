"""PyTorch LPIPS (VGG16) weights → the params of `gan_jax.metrics.lpips`.

Two sources, as flat {name: array} state dicts (read from .npz or .safetensors):

(a) the ``lpips`` package's ``lpips.LPIPS(net='vgg').state_dict()``: the trunk as
    ``net.slice1.0.weight``, ``net.slice1.2.weight``, ``net.slice2.5.weight``, ...,
    ``net.slice5.28.bias``, the heads as ``lin0.model.1.weight`` (1, C, 1, 1) (or
    ``lin0.model.0.weight``, built without dropout) and again as ``lins.0.*`` (checked
    equal), and the ScalingLayer's ``scaling_layer.shift`` / ``scaling_layer.scale``
    buffers, checked against the constants and dropped;
(b) torchvision's ``vgg16().state_dict()`` (``features.N.weight`` / ``features.N.bias``
    for the 13 convolutions N = 0, 2, 5, ..., 28; ``classifier.*`` ignored) merged
    with the heads file the ``lpips`` package ships, ``lpips/weights/v0.1/vgg.pth``.

Kernels go from PyTorch's (O, I, kh, kw) to HWIO, heads from (1, C, 1, 1) to (C,).
Every tensor must be present with its published shape and nothing unknown may be
left, so a file for another network cannot slip through.
"""

import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.metrics import lpips

# torchvision's ``vgg16().features`` index of each convolution, in `lpips.conv_names` order.
FEATURE_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
# The ``lpips`` package's slice (1..5) of each of those: slice k ends at relu k.
SLICES = (1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5)


def trunk_prefixes(state: dict[str, np.ndarray]) -> dict[str, str]:
    """{gan_jax conv name: PyTorch module prefix} for the naming ``state`` uses."""
    names = lpips.conv_names()
    if any(k.startswith("net.slice") for k in state):
        return {n: f"net.slice{s}.{i}" for n, s, i in zip(names, SLICES, FEATURE_INDICES)}
    if any(k.startswith("features.") for k in state):
        return {n: f"features.{i}" for n, i in zip(names, FEATURE_INDICES)}
    raise ConfigError(
        "not an LPIPS VGG16 state dict: no net.slice* (lpips package) or features.* (torchvision vgg16) keys"
    )


def head_name(k: int, state: dict[str, np.ndarray]) -> str:
    """The PyTorch name of head ``k``: ``lin{k}.model.1.weight``, or ``.model.0.`` without dropout."""
    plain = f"lin{k}.model.0.weight"
    return plain if plain in state and f"lin{k}.model.1.weight" not in state else f"lin{k}.model.1.weight"


def torch_layout(state: dict[str, np.ndarray]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{PyTorch name: (gan_jax flat name, PyTorch shape)} of every tensor LPIPS needs."""
    shapes = lpips.parameter_shapes()
    layout = {}
    for name, prefix in trunk_prefixes(state).items():
        h, w, i, o = shapes[f"{name}/kernel"]
        layout[f"{prefix}.weight"] = (f"{name}/kernel", (o, i, h, w))
        layout[f"{prefix}.bias"] = (f"{name}/bias", (o,))
    for k, width in enumerate(lpips.CHANNELS):
        layout[head_name(k, state)] = (f"lin{k}", (1, width, 1, 1))
    return layout


def check_scaling_layer(state: dict[str, np.ndarray]) -> None:
    """The ScalingLayer's buffers, where present, must hold LPIPS v0.1's constants."""
    for key, constant in (("scaling_layer.shift", lpips.SHIFT), ("scaling_layer.scale", lpips.SCALE)):
        value = np.ravel(state.get(key, constant))
        if value.shape != (3,) or not np.allclose(value, constant, atol=1e-6):
            raise ConfigError(f"{key} is {value.tolist()}, not LPIPS v0.1's {list(constant)}")


def check_head_aliases(state: dict[str, np.ndarray]) -> None:
    """``lins.{k}.*``, the ``lpips`` package's second name for head ``lin{k}``, must equal it."""
    for k in range(len(lpips.CHANNELS)):
        head = head_name(k, state)
        alias = head.replace(f"lin{k}.", f"lins.{k}.", 1)
        if alias in state and head in state and not np.array_equal(state[alias], state[head]):
            raise ConfigError(f"{alias} differs from {head}: they name the same LPIPS head")


def ignored(name: str) -> bool:
    """Tensors a source may hold that LPIPS does not use (or holds twice)."""
    return name.startswith(("classifier.", "scaling_layer.", "lins.")) or name.endswith("num_batches_tracked")


def from_state_dict(arrays: dict[str, np.ndarray]):
    """An LPIPS VGG16 state dict (either source above) → `gan_jax.metrics.lpips` params."""
    layout = torch_layout(arrays)
    check_scaling_layer(arrays)
    check_head_aliases(arrays)
    extra = sorted(k for k in arrays if k not in layout and not ignored(k))
    if extra:
        raise ConfigError(f"unexpected tensor {extra[0]} (and {len(extra) - 1} more): not LPIPS VGG16")
    flat = {}
    for torch_name, (name, shape) in layout.items():
        if torch_name not in arrays:
            hint = " (the linear heads: lpips/weights/v0.1/vgg.pth as .npz, --heads)" if "lin" in name else ""
            raise ConfigError(f"missing tensor {torch_name}{hint}")
        value = np.asarray(arrays[torch_name], np.float32)
        if value.shape != shape:
            raise ConfigError(f"{torch_name} has shape {value.shape}, expected {shape}")
        flat[name] = value.reshape(-1) if name.startswith("lin") else value
        if name.endswith("/kernel"):
            flat[name] = value.transpose(2, 3, 1, 0)  # (O, I, kh, kw) → (kh, kw, I, O)
    return lpips.unflatten(flat)
