"""Preprocessing and batched, sharded extraction."""

import jax.numpy as jnp
import numpy as np

from gan_jax import parallel
from gan_jax.training import sample
from gan_jax.metrics import features


def test_to_uint8_matches_the_png_path():
    x = np.random.default_rng(0).uniform(-1.2, 1.2, (4, 5, 5, 1)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(features.to_uint8(jnp.asarray(x))), sample.to_uint8(x))


def test_padded_and_rgb_inputs_reduce_to_the_28px_grey_input():
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    want = np.asarray(features._fmnist_preprocess(jnp.asarray(grey)))
    padded = np.zeros((3, 32, 32, 1), np.uint8)
    padded[:, 2:30, 2:30] = grey
    np.testing.assert_array_equal(np.asarray(features._fmnist_preprocess(jnp.asarray(padded))), want)
    rgb = np.repeat(grey, 3, axis=-1)
    np.testing.assert_allclose(np.asarray(features._fmnist_preprocess(jnp.asarray(rgb))), want, atol=1e-6)
    big = np.asarray(features._fmnist_preprocess(jnp.asarray(np.repeat(np.repeat(grey, 2, 1), 2, 2))))
    assert big.shape == (3, 28, 28, 1)


def test_partial_batches_are_padded_and_trimmed():
    net = features.get_feature_net("fmnist")
    extract = features.make_extractor(net, parallel.create_mesh(), batch_size=16)
    images = np.random.default_rng(2).integers(0, 256, (21, 28, 28, 1), dtype=np.uint8)
    feats, logits = features.extract_all(extract, iter([images[:16], images[16:]]))
    assert feats.shape == (21, 128) and logits.shape == (21, 10)
    direct = np.asarray(net.apply(jnp.asarray(images))[0])
    np.testing.assert_allclose(feats, direct, rtol=1e-5, atol=1e-5)
