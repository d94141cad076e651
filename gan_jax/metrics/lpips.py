"""LPIPS, the learned perceptual image patch similarity of Zhang et al. 2018 ("The
Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR), with the
VGG16 trunk, as the ``lpips`` package (version 0.1) computes it.

For images x, y in [-1, 1], both first scaled channel by channel as
x' = (x − shift) / scale (shift = (−.030, −.088, −.188), scale = (.458, .448, .450)):

    d(x, y) = Σ_l 1/(H_l W_l) Σ_{h,w} Σ_c w_{l,c} (f̂_l(x')_{hwc} − f̂_l(y')_{hwc})²,
    f̂_l = f_l / (‖f_l‖₂ over c + 1e-10),

where f_l, l = 1..5, are VGG16's activations after ReLU at relu1_2, relu2_2, relu3_3,
relu4_3 and relu5_3 (`LAYERS`, `CHANNELS` channels each), unit-normalised over the
channels at every position, and w_l ≥ 0 are the five linear heads (1x1 convolutions to
one channel without bias: a weighted channel sum). Grey images are repeated to three
channels. The images are not resized here: the caller chooses the resolution (the
``lpips`` package feeds images as they are; 64 px and more keep relu5_3 at least 4x4).

Weights: the trunk is torchvision's ImageNet VGG16 (Simonyan & Zisserman 2015,
``vgg16-397923af.pth``) up to conv5_3, the heads ``lpips/weights/v0.1/vgg.pth`` that
Zhang et al. fitted to human 2AFC judgements (BAPPS). `gan_jax.tools.convert_lpips`
turns either the ``lpips`` package's state dict, or torchvision's VGG16 with the heads
file, into the flat file `load_params` reads: ``conv1_1/kernel`` (3, 3, 3, 64) HWIO,
``conv1_1/bias`` (64,), ..., ``conv5_3/bias`` (512,), ``lin0`` (64,), ..., ``lin4`` (512,).

The convolutions run at ``Precision.HIGHEST`` (float32 on GPUs too, no TF32). Where a
feature vector is all zero its norm's gradient is taken as 0, so `distance` has finite
gradients everywhere; its values are those of the formula above.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from gan_jax.data.files import load_arrays
from gan_jax.errors import ConfigError

LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
CHANNELS = (64, 128, 256, 512, 512)
CONVS_PER_BLOCK = (2, 2, 3, 3, 3)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def conv_names() -> list[str]:
    """``conv1_1``, ``conv1_2``, ``conv2_1``, ..., ``conv5_3``: VGG16's 13 convolutions."""
    return [f"conv{b + 1}_{i + 1}" for b, n in enumerate(CONVS_PER_BLOCK) for i in range(n)]


def parameter_shapes() -> dict[str, tuple[int, ...]]:
    """{flat name: shape}: every 3x3 convolution's HWIO kernel and bias, then the heads."""
    shapes, fan_in = {}, 3
    for block, (width, n) in enumerate(zip(CHANNELS, CONVS_PER_BLOCK)):
        for i in range(n):
            name = f"conv{block + 1}_{i + 1}"
            shapes[f"{name}/kernel"] = (3, 3, fan_in, width)
            shapes[f"{name}/bias"] = (width,)
            fan_in = width
    for k, width in enumerate(CHANNELS):
        shapes[f"lin{k}"] = (width,)
    return shapes


def unflatten(flat: dict[str, np.ndarray]):
    """{'conv1_1/kernel': array, ..., 'lin0': array} → the params pytree (float32)."""
    return traverse_util.unflatten_dict({k: jnp.asarray(v, jnp.float32) for k, v in flat.items()}, sep="/")


def abstract_params():
    """The params pytree as `jax.ShapeDtypeStruct` leaves (float32)."""
    flat = {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in parameter_shapes().items()}
    return traverse_util.unflatten_dict(flat, sep="/")


def random_params(key: jax.Array):
    """Random params for tests: He-normal kernels, N(0, 0.1²) biases, U[0, 1) heads, drawn
    by NumPy seeded with ``key``'s bits (15M values: quicker than jax.random on a CPU)."""
    bits = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    rng = np.random.default_rng(np.asarray(bits, np.uint32).ravel().tolist())
    flat = {}
    for name, shape in parameter_shapes().items():
        if name.endswith("/kernel"):
            he = np.float32(math.sqrt(2 / math.prod(shape[:3])))
            flat[name] = he * rng.standard_normal(shape, np.float32)
        elif name.endswith("/bias"):
            flat[name] = np.float32(0.1) * rng.standard_normal(shape, np.float32)
        else:
            flat[name] = rng.random(shape, np.float32)
    return unflatten(flat)


def load_params(path: str):
    """The params in ``path`` (.npz or .safetensors, gan_jax's flat names), every name and
    shape checked: a missing, extra or misshapen tensor is a one-line `ConfigError`."""
    arrays = load_arrays(path)
    expected = parameter_shapes()
    for name, shape in expected.items():
        if name not in arrays:
            raise ConfigError(
                f"{path} lacks the LPIPS tensor {name}; convert the weights with "
                f"python -m gan_jax.tools.convert_lpips"
            )
        if tuple(arrays[name].shape) != shape:
            raise ConfigError(f"{path}: LPIPS tensor {name} has shape {arrays[name].shape}, expected {shape}")
    extra = sorted(set(arrays) - set(expected))
    if extra:
        raise ConfigError(f"{path} has {extra[0]} (and {len(extra) - 1} more), not an LPIPS VGG16 tensor")
    return unflatten({k: arrays[k] for k in expected})


def save_params(params, path: str) -> None:
    """Writes ``params`` to the .npz ``path`` under the flat names `load_params` reads."""
    if not path.endswith(".npz"):
        raise ConfigError(f"{path}: LPIPS params are saved as .npz")
    flat = traverse_util.flatten_dict(params, sep="/")
    np.savez(path, **{k: np.asarray(v, np.float32) for k, v in flat.items()})


def scale_input(x: jax.Array) -> jax.Array:
    """[-1, 1] images, grey repeated to RGB, → (x − shift) / scale (the ScalingLayer)."""
    x = x.astype(jnp.float32)
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    return (x - jnp.asarray(SHIFT, jnp.float32)) / jnp.asarray(SCALE, jnp.float32)


def conv_relu(x: jax.Array, conv) -> jax.Array:
    """3x3 convolution, stride 1, zero padding 1, plus bias, then ReLU."""
    y = jax.lax.conv_general_dilated(
        x,
        conv["kernel"],
        (1, 1),
        ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )
    return jax.nn.relu(y + conv["bias"])


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max pool, stride 2, an odd last row or column dropped (PyTorch's MaxPool2d(2, 2))."""
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def vgg16_features(params, x: jax.Array) -> list[jax.Array]:
    """VGG16's activations at `LAYERS` for scaled images ``x`` (B, H, W, 3)."""
    features = []
    for block, n in enumerate(CONVS_PER_BLOCK):
        if block:
            x = max_pool_2x2(x)
        for i in range(n):
            x = conv_relu(x, params[f"conv{block + 1}_{i + 1}"])
        features.append(x)
    return features


def unit_normalize(f: jax.Array) -> jax.Array:
    """f / (‖f‖₂ over channels + 1e-10) at every position; a zero vector's norm has gradient 0."""
    sq = jnp.sum(f * f, axis=-1, keepdims=True)
    positive = sq > 0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)
    return f / (norm + EPS)


def features(params, x: jax.Array) -> list[jax.Array]:
    """The unit-normalised VGG16 features of images ``x`` (B, H, W, 1 or 3) in [-1, 1]:
    one side of the distance, which a fixed target needs only once."""
    return [unit_normalize(f) for f in vgg16_features(params, scale_input(x))]


def compare(params, fx: list[jax.Array], fy: list[jax.Array]) -> jax.Array:
    """Σ_l mean_hw Σ_c w_l (f̂x − f̂y)², (B,), of two images' `features` (``params``: the
    heads ``lin0`` … ``lin4`` at least)."""
    total = jnp.zeros((fx[0].shape[0],), jnp.float32)
    for k, (a, b) in enumerate(zip(fx, fy)):
        total = total + jnp.mean(jnp.sum(jnp.square(a - b) * params[f"lin{k}"], axis=-1), axis=(1, 2))
    return total


def distance(params, x: jax.Array, y: jax.Array) -> jax.Array:
    """LPIPS(x, y), (B,) float32, for images (B, H, W, 1 or 3) in [-1, 1] (equation above)."""
    if x.shape != y.shape or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"LPIPS compares two (B, H, W, 1|3) batches of one shape, not {x.shape}, {y.shape}")
    return compare(params, features(params, x), features(params, y))
