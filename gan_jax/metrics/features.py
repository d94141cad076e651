"""Feature networks and batched, sharded feature extraction.

A feature network maps uint8 images (B, H, W, C), the dataset's format, to
(features, logits). Generated images are quantised to uint8 first, exactly like
saved PNGs, so real and generated images take the same path into the network.
Extraction is one jit-compiled function per batch shape, with the batch sharded over
the mesh's ``'data'`` axis and the weights replicated; a final partial batch is
padded to the full batch and the padding dropped.
"""

import dataclasses
import hashlib
from typing import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from gan_jax import parallel
from gan_jax.errors import ConfigError
from gan_jax.metrics import classifier, inception

FEATURE_NETS = ("fmnist", "inception")


@dataclasses.dataclass(frozen=True)
class FeatureNet:
    name: str
    dim: int
    weights_id: str  # identifies the weights, part of every cache key
    apply: Callable[[jax.Array], tuple[jax.Array, jax.Array]]  # uint8 images -> (features, logits)


def to_uint8(images: jax.Array) -> jax.Array:
    """[-1, 1] floats → uint8 by rounding (x + 1)·127.5, as when writing a PNG."""
    return jnp.clip(jnp.round((images.astype(jnp.float32) + 1.0) * 127.5), 0, 255).astype(jnp.uint8)


def _fmnist_preprocess(images: jax.Array) -> jax.Array:
    """uint8 (B, H, W, C) → float (B, 28, 28, 1) in [0, 1]: luma for RGB, bilinear to 28."""
    x = images.astype(jnp.float32) / 255.0
    if x.shape[-1] == 3:
        x = x @ jnp.array([0.299, 0.587, 0.114], jnp.float32)[:, None]
    if x.shape[1:3] == (32, 32):  # 28 px padded to 32 (dataset.resize='pad'): undo the padding
        x = x[:, 2:30, 2:30]
    elif x.shape[1:3] != (28, 28):
        x = jax.image.resize(x, (x.shape[0], 28, 28, 1), "bilinear", antialias=True)
    return x


def _file_digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()[:12]


def get_feature_net(name: str, inception_weights: str = "") -> FeatureNet:
    """``fmnist``: the shipped domain classifier; ``inception``: FID's Inception-v3, from
    ``inception_weights`` or ``$GAN_JAX_INCEPTION`` (see `gan_jax.metrics.inception`)."""
    if name == "inception":
        path = inception.weights_path(inception_weights or None)
        return FeatureNet(
            "inception",
            2048,
            "inception-" + _file_digest(path),
            inception.features_fn(inception.load_params(path)),
        )
    if name == "fmnist":
        params = classifier.load_params()
        model = classifier.Classifier()
        return FeatureNet(
            "fmnist",
            classifier.FEATURE_DIM,
            "fmnist-" + _file_digest(classifier.WEIGHTS),
            lambda images: model.apply({"params": params}, _fmnist_preprocess(images)),
        )
    raise ConfigError(f"unknown feature network {name!r}; available: {', '.join(FEATURE_NETS)}")


def make_extractor(net: FeatureNet, mesh: Mesh, batch_size: int) -> Callable[[np.ndarray], tuple]:
    """``uint8 images (n <= batch_size, H, W, C) -> (features, logits)`` as numpy arrays."""
    parallel.check_batch_size(batch_size, mesh)
    sharded = parallel.data_sharded(mesh)
    fn = jax.jit(net.apply, in_shardings=sharded, out_shardings=parallel.replicated(mesh))

    def extract(images: np.ndarray):
        n = len(images)
        if n < batch_size:
            images = np.concatenate([images, np.zeros((batch_size - n, *images.shape[1:]), images.dtype)])
        features, logits = jax.device_get(fn(parallel.from_every_process(images, sharded)))
        return features[:n], logits[:n]

    return extract


def extract_all(extract: Callable, batches: Iterator[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    feats, logits = zip(*(extract(b) for b in batches))
    return np.concatenate(feats).astype(np.float32), np.concatenate(logits).astype(np.float32)
