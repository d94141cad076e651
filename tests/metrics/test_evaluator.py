"""Metric results, protocols, reference caching and real-data sanity."""

import os

import numpy as np
import pytest

from conftest import FASHION_MNIST_DIR
from gan_jax import parallel
from gan_jax.data import sources as datasets
from gan_jax.config import base_config
from gan_jax.errors import ConfigError
from gan_jax.metrics import evaluator, features, fid
from gan_jax.run import evaluation


def test_compute_labels_every_result_with_its_protocol():
    rng = np.random.default_rng(0)
    real = {"fmnist": rng.normal(size=(3000, 4))}
    fake = {"fmnist": evaluator.Samples(rng.normal(size=(2000, 4)), rng.normal(size=(2000, 10)))}
    results = evaluator.compute(["fd_fmnist", "pr_fmnist"], real, fake, "test")
    assert set(results) == {"fd_fmnist", "pr_fmnist_precision", "pr_fmnist_recall"}
    assert results["fd_fmnist"]["protocol"] == "fd_fmnist_2kgen_vs_test3k"
    assert results["fd_fmnist"]["value"] == pytest.approx(
        fid.frechet_distance_of_features(real["fmnist"], fake["fmnist"].features)
    )


def test_metric_names_and_directions():
    assert evaluator.parse_metrics("fd_fmnist, kd_fmnist") == ["fd_fmnist", "kd_fmnist"]
    with pytest.raises(ConfigError, match="unknown metric 'fid50k'.*fd_fmnist"):
        evaluator.parse_metrics("fid50k")
    assert not evaluator.higher_is_better("fd_fmnist")
    assert evaluator.higher_is_better("pr_fmnist_recall")
    with pytest.raises(ConfigError):
        evaluator.higher_is_better("pr_fmnist")


def test_reference_features_are_cached(tmp_path, synthetic_npz):
    config = base_config()
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    net = features.get_feature_net("fmnist")
    extract = features.make_extractor(net, parallel.create_mesh(), 64)
    first = evaluation.reference_features(config.dataset, "train", net, extract, 64, str(tmp_path))
    cached = [f for _, _, fs in os.walk(tmp_path) for f in fs]
    assert len(cached) == 1 and cached[0].endswith(".npz")
    second = evaluation.reference_features(config.dataset, "train", net, extract, 64, str(tmp_path))
    np.testing.assert_array_equal(first, second)
    assert first.shape == (256, 128)


def test_a_subset_of_classes_has_its_own_reference(tmp_path, synthetic_npz):
    config = base_config()
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    net = features.get_feature_net("fmnist")
    extract = features.make_extractor(net, parallel.create_mesh(), 64)
    every = evaluation.reference_features(config.dataset, "train", net, extract, 64, str(tmp_path))
    config.dataset.classes = (1,)
    one = evaluation.reference_features(config.dataset, "train", net, extract, 64, str(tmp_path))
    labels = np.load(synthetic_npz)["labels"]
    np.testing.assert_allclose(one, every[labels == 1], rtol=1e-5, atol=1e-5)
    config.dataset.classes = ()  # the full reference again, from its own cache entry
    np.testing.assert_array_equal(
        evaluation.reference_features(config.dataset, "train", net, extract, 64, str(tmp_path)), every
    )


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed")
def test_real_vs_real_is_small_and_real_vs_noise_is_large():
    ds = base_config().dataset
    ds.split = "test"
    data = datasets.load_dataset(ds)
    extract = features.make_extractor(features.get_feature_net("fmnist"), parallel.create_mesh(), 1000)
    feats, _ = features.extract_all(
        extract, (np.asarray(data.images[i : i + 1000]) for i in range(0, 10_000, 1000))
    )
    order = np.random.default_rng(0).permutation(10_000)
    half_a, half_b = feats[order[:5000]], feats[order[5000:]]
    noise = np.random.default_rng(1).integers(0, 256, (5000, 28, 28, 1), dtype=np.uint8)
    noise_feats, _ = features.extract_all(extract, (noise[i : i + 1000] for i in range(0, 5000, 1000)))
    real_vs_real = fid.frechet_distance_of_features(half_a, half_b)
    real_vs_noise = fid.frechet_distance_of_features(half_a, noise_feats)
    assert real_vs_real < 0.05 * real_vs_noise
    assert real_vs_real > 0


def test_class_accuracy_counts_samples_classified_as_requested():
    logits = np.eye(4)[[0, 1, 2, 3, 0, 0]] * 5
    fake = {"fmnist": evaluator.Samples(np.zeros((6, 2)), logits, np.array([0, 1, 2, 0, 0, 3]))}
    results = evaluator.compute(["acc_fmnist"], {"fmnist": np.zeros((5, 2))}, fake, "test")
    assert results["acc_fmnist"]["value"] == pytest.approx(4 / 6)
    with pytest.raises(ConfigError, match="model.num_classes is 0"):
        evaluator.parse_metrics("acc_fmnist", num_classes=0)
    real_stand_in = {"fmnist": evaluator.Samples(np.zeros((6, 2)), logits)}
    with pytest.raises(ConfigError, match="requested classes"):
        evaluator.compute(["acc_fmnist"], {"fmnist": np.zeros((5, 2))}, real_stand_in, "test")
