"""A small Fashion-MNIST classifier whose penultimate layer is a domain feature space.

Inception-v3 features, what FID uses, were learnt on ImageNet photographs; on 28x28
greyscale garments they measure little of what matters. For MNIST-like data this
network plays the Inception network's role: its 128-d penultimate activations are
the features of `fd_fmnist`, `kd_fmnist`, `pr_fmnist` and `dc_fmnist`. Numbers
computed on them are comparable only with other numbers computed on them, which is
why they are never called FID.

Architecture: three 3x3 convolutions (32, 64, 64 channels, ReLU), each followed by
2x2 max pooling (28 → 14 → 7 → 3), a 128-unit ReLU layer on the flattened 3x3x64 map
(the features), and a 10-way linear head. 131k parameters, 0.53 MB as float32 `.npz`.

Input: (B, 28, 28, 1) float images in [0, 1].

Trained by ``python -m gan_jax.tools.train_classifier`` on the Fashion-MNIST
train split (60k images), 10 epochs of Adam (learning rate 1e-3, cosine decay),
batch 128, seed 0, with random horizontal flips; 9.4 minutes on a 2-core CPU.
Test accuracy on the Fashion-MNIST test split (10k images): 91.70% (`TEST_ACCURACY`,
checked by the test suite).
"""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from gan_jax.data.files import load_arrays
from gan_jax.errors import GanJaxError

WEIGHTS = os.path.join(os.path.dirname(__file__), "weights", "fmnist_classifier.npz")
FEATURE_DIM = 128
TEST_ACCURACY = 0.9170  # Fashion-MNIST test split, 10k images


class Classifier(nn.Module):
    num_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Returns (features (B, 128), logits (B, num_classes))."""
        x = nn.relu(nn.Conv(32, (3, 3))(x))
        x = nn.max_pool(x, (2, 2), (2, 2))  # 14x14
        x = nn.relu(nn.Conv(64, (3, 3))(x))
        x = nn.max_pool(x, (2, 2), (2, 2))  # 7x7
        x = nn.relu(nn.Conv(64, (3, 3))(x))
        x = nn.max_pool(x, (2, 2), (2, 2))  # 3x3
        x = x.reshape(x.shape[0], -1)
        features = nn.relu(nn.Dense(FEATURE_DIM, name="features")(x))
        return features, nn.Dense(self.num_classes, name="head")(features)


def save_params(params, path: str) -> None:
    flat = traverse_util.flatten_dict(jax.device_get(params), sep="/")
    np.savez(path, **{k: np.asarray(v, np.float32) for k, v in flat.items()})


def load_params(path: str = WEIGHTS):
    """Parameters from an `.npz` written by `save_params`, checked against the architecture."""
    if not os.path.exists(path):
        raise GanJaxError(
            f"classifier weights {path} are missing; train them with python -m gan_jax.tools.train_classifier"
        )
    loaded = load_arrays(path)
    expected = traverse_util.flatten_dict(
        jax.eval_shape(lambda: Classifier().init(jax.random.key(0), jnp.zeros((1, 28, 28, 1))))["params"],
        sep="/",
    )
    for name, shape in expected.items():
        if name not in loaded or loaded[name].shape != shape.shape:
            got = loaded[name].shape if name in loaded else "missing"
            raise GanJaxError(f"{path}: parameter {name} should be {shape.shape}, is {got}")
    return traverse_util.unflatten_dict({k: jnp.asarray(loaded[k]) for k in expected}, sep="/")
