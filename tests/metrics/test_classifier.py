"""The shipped domain classifier: loadable, small, and as accurate as its docstring says."""

import os

import jax
import numpy as np
import pytest

from conftest import FASHION_MNIST_DIR
from gan_jax.errors import GanJaxError
from gan_jax.metrics import classifier, features


def test_weights_ship_small_and_load():
    assert os.path.getsize(classifier.WEIGHTS) < 1_000_000
    params = classifier.load_params()
    assert sum(x.size for x in jax.tree.leaves(params)) == 130_890
    assert params["features"]["kernel"].shape == (576, classifier.FEATURE_DIM)


def test_wrong_weight_file_names_the_parameter(tmp_path):
    bad = {k: v for k, v in np.load(classifier.WEIGHTS).items()}
    bad["head/kernel"] = np.zeros((3, 3), np.float32)
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(GanJaxError, match="head/kernel should be"):
        classifier.load_params(str(tmp_path / "bad.npz"))


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed")
def test_test_accuracy_matches_the_docstring():
    from gan_jax.tools.train_classifier import load_split

    x, y = load_split("test")
    net = features.get_feature_net("fmnist")
    images = np.rint(x * 255).astype(np.uint8)
    logits = np.concatenate([np.asarray(net.apply(images[i : i + 2000])[1]) for i in range(0, len(x), 2000)])
    accuracy = float(np.mean(np.argmax(logits, -1) == y))
    assert accuracy >= 0.90
    assert accuracy == pytest.approx(classifier.TEST_ACCURACY, abs=1e-4)
