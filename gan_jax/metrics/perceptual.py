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

Each is a `Distance`: d(x, y) = compare(features(x), features(y)), both halves
`jax.tree_util.Partial`s holding their network's weights as leaves. So a jitted function
given a distance as an argument traces the weights instead of baking them into the
program as constants (LPIPS's VGG16 is 58 MB), and a fixed target's features are
computed once (`Distance.features`), not at every step of an optimisation.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from gan_jax.errors import ConfigError
from gan_jax.metrics import classifier, lpips
from gan_jax.metrics.lpips import unit_normalize

DISTANCES = ("lpips", "fmnist", "l2")


class Distance(NamedTuple):
    """d(x, y) = ``compare(features(x), features(y))``, (B,); a pytree."""

    features: Partial  # images (B, H, W, C) in [-1, 1] -> features (any pytree)
    compare: Partial  # (features of x, features of y) -> (B,)

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        return self.compare(self.features(x), self.features(y))


def _pixels(x: jax.Array) -> jax.Array:
    return x


def _mean_square(fx: jax.Array, fy: jax.Array) -> jax.Array:
    return jnp.mean(jnp.square(fx - fy), axis=(1, 2, 3))


l2 = Distance(Partial(_pixels), Partial(_mean_square))


def _classifier_stages(params, images: jax.Array) -> list[jax.Array]:
    """The classifier's three convolution outputs after ReLU, unit-normalised over
    channels, for [-1, 1] images."""
    grey = jnp.mean(images, axis=-1, keepdims=True)
    if grey.shape[1:3] != (28, 28):
        grey = jax.image.resize(grey, (grey.shape[0], 28, 28, 1), "linear", antialias=True)
    _, state = classifier.Classifier().apply(
        {"params": params},
        (grey + 1) / 2,
        capture_intermediates=lambda m, _: m.name and m.name.startswith("Conv"),
    )
    inter = state["intermediates"]
    return [unit_normalize(jax.nn.relu(inter[f"Conv_{i}"]["__call__"][0])) for i in range(3)]


def _stage_means(fx: list[jax.Array], fy: list[jax.Array]) -> jax.Array:
    return sum(_mean_square(a, b) for a, b in zip(fx, fy))


def fmnist_distance(params=None) -> Distance:
    """The ``fmnist`` distance with the classifier's ``params`` (default: the shipped weights)."""
    params = classifier.load_params() if params is None else params
    return Distance(Partial(_classifier_stages, params), Partial(_stage_means))


def lpips_size(size: int) -> int:
    """The side LPIPS sees for an image of side ``size``: 256 at most, 64 at least."""
    return min(max(size, 64), 256)


def _lpips_features(params, images: jax.Array) -> list[jax.Array]:
    b, h, w, c = images.shape
    side_h, side_w = lpips_size(h), lpips_size(w)
    if (side_h, side_w) != (h, w):
        images = jax.image.resize(images, (b, side_h, side_w, c), "linear", antialias=True)
    return lpips.features(params, images)


def lpips_distance(weights: str) -> Distance:
    """The ``lpips`` distance with the converted weights file ``weights``."""
    params = lpips.load_params(weights)
    heads = {k: v for k, v in params.items() if k.startswith("lin")}
    return Distance(Partial(_lpips_features, params), Partial(lpips.compare, heads))


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
    return fmnist_distance() if name == "fmnist" else l2
