"""Inception-v3 as FID computes it, in Flax.

The network is the TensorFlow graph ``inception-2015-12-05`` that FID was defined
with (Heusel et al. 2017), as pytorch-fid reproduces it on top of torchvision's
Inception3 (Szegedy et al. 2016, "Rethinking the Inception Architecture"):

* every convolution is bias-free, followed by BatchNorm (ε = 1e-3) and ReLU;
* the average pools of the A and C blocks and of the first E block (Mixed_7b) leave
  the zero padding out of the average (TensorFlow's behaviour);
* the last E block (Mixed_7c) pools with a 3x3 max pool instead of an average pool;
* the head has 1008 classes.

Outputs: ``pool3``, the 2048-d global average of Mixed_7c (FID's features), and
``logits = pool3 @ W``, the head without its bias (what the Inception Score of
Salimans et al. 2016 was computed on).

Input: (B, H, W, 3) floats in [0, 1] (or uint8 through `preprocess`), bilinearly
resized to 299x299 and scaled to [-1, 1] as in pytorch-fid.

Parameter names follow the published PyTorch layout (``Mixed_5b.branch1x1.conv.weight``
becomes ``Mixed_5b/branch1x1/kernel``), so `gan_jax.convert.inception` maps
one onto the other one-to-one, checking every name and shape.
"""

import os
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import traverse_util

from gan_jax.data.files import load_arrays
from gan_jax.errors import GanJaxError

WEIGHTS_ENV = "GAN_JAX_INCEPTION"
RESOLUTION = 299
NUM_CLASSES = 1008


class BasicConv(nn.Module):
    """conv (no bias) → BatchNorm(ε=1e-3, running statistics) → ReLU."""

    features: int
    kernel: tuple[int, int]
    strides: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x):
        in_ch = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (*self.kernel, in_ch, self.features))
        scale = self.param("scale", nn.initializers.ones, (self.features,))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        mean = self.param("mean", nn.initializers.zeros, (self.features,))
        var = self.param("var", nn.initializers.ones, (self.features,))
        (ph, pw) = self.padding
        y = jax.lax.conv_general_dilated(
            x,
            kernel,
            (self.strides, self.strides),
            ((ph, ph), (pw, pw)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=jax.lax.Precision.HIGHEST,
        )
        y = (y - mean) * (scale * jax.lax.rsqrt(var + 1e-3)) + bias
        return nn.relu(y)


def avg_pool_3x3_exclude_pad(x):
    """3x3 stride-1 average over the window's in-image pixels only (TF's 'SAME' pool)."""
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pad)
    count = jax.lax.reduce_window(
        jnp.ones_like(x[:1, :, :, :1]), 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pad
    )
    return total / count


def max_pool(x, window: int, stride: int, padding: int = 0):
    pad = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    return jax.lax.reduce_window(
        x, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, stride, stride, 1), pad
    )


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(384, (3, 3), strides=2, name="branch3x3")(x)
        bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, max_pool(x, 3, 2)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c = self.channels_7x7
        b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv(c, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv(c, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv(c, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv(c, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv(c, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv(c, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv(192, (1, 1), name="branch_pool")(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv(320, (3, 3), strides=2, name="branch3x3_2")(b3)
        b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, max_pool(x, 3, 2)], axis=-1)


class InceptionE(nn.Module):
    max_pool_branch: bool  # the FID graph's last block pools with max, not average

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate(
            [
                BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3),
            ],
            -1,
        )
        bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate(
            [
                BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd),
            ],
            -1,
        )
        pooled = max_pool(x, 3, 1, 1) if self.max_pool_branch else avg_pool_3x3_exclude_pad(x)
        bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class InceptionV3(nn.Module):
    """(B, 299, 299, 3) in [-1, 1] → (pool3 (B, 2048), unbiased logits (B, 1008))."""

    @nn.compact
    def __call__(self, x):
        x = BasicConv(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = max_pool(x, 3, 2)
        x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = max_pool(x, 3, 2)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(False, name="Mixed_7b")(x)
        x = InceptionE(True, name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))
        kernel = self.param("fc_kernel", nn.initializers.lecun_normal(), (2048, NUM_CLASSES))
        self.param("fc_bias", nn.initializers.zeros, (NUM_CLASSES,))  # kept for the layout; IS omits it
        return pool3, jnp.dot(pool3, kernel, precision=jax.lax.Precision.HIGHEST)


def resize_bilinear(x: jax.Array, size: int = RESOLUTION) -> jax.Array:
    """Bilinear resize with half-pixel centres and no antialiasing: PyTorch's
    ``F.interpolate(mode='bilinear', align_corners=False)``, what pytorch-fid uses."""
    return jax.image.resize(x, (x.shape[0], size, size, x.shape[3]), "bilinear", antialias=False)


def preprocess(images: jax.Array) -> jax.Array:
    """uint8 (B, H, W, 1|3) → float32 (B, 299, 299, 3) in [-1, 1]."""
    x = images.astype(jnp.float32) / 255.0
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    return 2.0 * resize_bilinear(x) - 1.0


def parameter_shapes() -> dict[str, tuple[int, ...]]:
    """{'Mixed_5b/branch1x1/kernel': shape, ...} of the Flax network."""
    shapes = jax.eval_shape(lambda: InceptionV3().init(jax.random.key(0), jnp.zeros((1, 299, 299, 3))))
    return {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(shapes["params"], sep="/").items()}


def weights_path(path: str | None = None) -> str:
    path = path or os.environ.get(WEIGHTS_ENV, "")
    if not path or not os.path.exists(path):
        raise GanJaxError(
            f"Inception weights not found ({path or f'set ${WEIGHTS_ENV}'}). Convert the FID "
            f"Inception weights you have (pytorch-fid's pt_inception-2015-12-05-6726825d.pth) with "
            f"python -m gan_jax.tools.convert_inception --src FILE.pth --out inception_fid.npz, "
            f"then point ${WEIGHTS_ENV} (or eval.inception_weights) at the .npz"
        )
    if os.path.isdir(path):
        raise GanJaxError(f"Inception weights {path!r} is a directory; point it at the converted .npz")
    return path


def load_params(path: str | None = None):
    """The converted `.npz`, checked name by name and shape by shape."""
    path = weights_path(path)
    loaded = load_arrays(path)
    expected = parameter_shapes()
    missing = sorted(set(expected) - set(loaded))
    if missing:
        raise GanJaxError(f"{path} lacks {len(missing)} Inception parameters, first {missing[0]}")
    for name, shape in expected.items():
        if loaded[name].shape != shape:
            raise GanJaxError(f"{path}: {name} has shape {loaded[name].shape}, expected {shape}")
    return traverse_util.unflatten_dict({k: jnp.asarray(loaded[k], jnp.float32) for k in expected}, sep="/")


def torch_layout(shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{PyTorch state-dict name: (Flax name, PyTorch shape)} for every parameter."""
    shapes = shapes or parameter_shapes()
    layout = {}
    suffix = {
        "kernel": "conv.weight",
        "scale": "bn.weight",
        "bias": "bn.bias",
        "mean": "bn.running_mean",
        "var": "bn.running_var",
    }
    for name, shape in shapes.items():
        if name == "fc_kernel":
            layout["fc.weight"] = (name, (shape[1], shape[0]))
        elif name == "fc_bias":
            layout["fc.bias"] = (name, shape)
        else:
            *module, leaf = name.split("/")
            torch_shape = (shape[3], shape[2], shape[0], shape[1]) if leaf == "kernel" else shape
            layout[".".join(module) + "." + suffix[leaf]] = (name, torch_shape)
    return layout


def features_fn(params) -> Callable[[jax.Array], tuple[jax.Array, jax.Array]]:
    """uint8 images → (pool3, logits), for `gan_jax.metrics.features`."""
    model = InceptionV3()
    return lambda images: model.apply({"params": params}, preprocess(images))
