"""Perceptual distances between two batches of images, differentiable in both: what a
projection (`gan_jax.run.projection`) minimises. Images are (B, H, W, C) floats in
[-1, 1], C = 1 or 3; each distance returns (B,) values, 0 for equal images.

- ``lpips``: LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features
  as a Perceptual Metric"; `gan_jax.metrics.lpips` has the equation) with VGG16 and the
  linear heads of the ``lpips`` package, converted offline by
  ``python -m gan_jax.tools.convert_lpips``: the distance NVlabs' projector minimises.
  Images larger than 256 px are area-downsampled to 256, as NVlabs' projector does;
  images smaller than 64 px are enlarged (bilinear) to 64, so that VGG's fifth stage
  still sees a 4×4 map.
- ``fmnist``: the same construction on the shipped Fashion-MNIST classifier
  (`gan_jax.metrics.classifier`), with uniform heads: for its three convolution stages l
  (after ReLU, 28², 14², 7² positions), the features f̂ unit-normalised over channels,
  d(x, y) = Σ_l mean_{h,w} mean_c (f̂_l(x) − f̂_l(y))². The images are made grey (channel
  mean) and resized to 28 × 28. The offline default for Fashion-MNIST-like data: it
  needs no download.
- ``l2``: the mean squared pixel difference, mean_{h,w,c} (x − y)².

Each is a `jax.tree_util.Partial` holding its network's weights as leaves, so that a
jitted function given it as an argument traces the weights instead of baking them into
the program as constants (LPIPS's VGG16 is 58 MB).
"""

from typing import Callable

import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.metrics import classifier, lpips
from gan_jax.metrics.lpips import unit_normalize

DISTANCES = ("lpips", "fmnist", "l2")

Distance = Callable[[jax.Array, jax.Array], jax.Array]


def l2(x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.square(x - y), axis=(1, 2, 3))


def _classifier_stages(params, images: jax.Array) -> list[jax.Array]:
    """The classifier's three convolution outputs after ReLU, for [-1, 1] images."""
    grey = jnp.mean(images, axis=-1, keepdims=True)
    if grey.shape[1:3] != (28, 28):
        grey = jax.image.resize(grey, (grey.shape[0], 28, 28, 1), "linear", antialias=True)
    _, state = classifier.Classifier().apply(
        {"params": params},
        (grey + 1) / 2,
        capture_intermediates=lambda m, _: m.name and m.name.startswith("Conv"),
    )
    inter = state["intermediates"]
    return [jax.nn.relu(inter[f"Conv_{i}"]["__call__"][0]) for i in range(3)]


def _fmnist(params, x: jax.Array, y: jax.Array) -> jax.Array:
    total = 0.0
    for fx, fy in zip(_classifier_stages(params, x), _classifier_stages(params, y)):
        total = total + jnp.mean(jnp.square(unit_normalize(fx) - unit_normalize(fy)), axis=(1, 2, 3))
    return total


def fmnist_distance(params=None) -> Distance:
    """The ``fmnist`` distance with the classifier's ``params`` (default: the shipped weights)."""
    params = classifier.load_params() if params is None else params
    return jax.tree_util.Partial(_fmnist, params)


def lpips_size(size: int) -> int:
    """The side LPIPS sees for an image of side ``size``: 256 at most, 64 at least."""
    return min(max(size, 64), 256)


def _lpips_resized(images: jax.Array) -> jax.Array:
    b, h, w, c = images.shape
    side_h, side_w = lpips_size(h), lpips_size(w)
    if (side_h, side_w) == (h, w):
        return images
    return jax.image.resize(images, (b, side_h, side_w, c), "linear", antialias=True)


def _lpips(params, x: jax.Array, y: jax.Array) -> jax.Array:
    return lpips.distance(params, _lpips_resized(x), _lpips_resized(y))


def lpips_distance(weights: str) -> Distance:
    """The ``lpips`` distance with the converted weights file ``weights``."""
    return jax.tree_util.Partial(_lpips, lpips.load_params(weights))


def make(name: str, lpips_weights: str | None = None) -> Distance:
    """The distance called ``name`` (one of `DISTANCES`)."""
    if name not in DISTANCES:
        raise ConfigError(f"distance {name!r} must be one of {DISTANCES}")
    if name == "lpips":
        if not lpips_weights:
            raise ConfigError(
                "the lpips distance needs its weights: convert them once with "
                "python -m gan_jax.tools.convert_lpips and pass --lpips_weights FILE"
            )
        return lpips_distance(lpips_weights)
    if lpips_weights:
        raise ConfigError(f"--lpips_weights is for the lpips distance, not {name!r}")
    return fmnist_distance() if name == "fmnist" else jax.tree_util.Partial(l2)
