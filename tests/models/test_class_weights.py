"""Generators conditioned on class weights: one-hot weights are the int labels exactly,
and a mix of weights mixes the class embeddings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import biggan, dcgan, layers, resnet

NUM_CLASSES = 4


def _perturbed(params, seed=7):
    """Every parameter moved off its initial value (the CBN class tables start at zero)."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(
        treedef, [p + 0.3 * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys)]
    )


GENERATORS = {
    "dcgan": lambda: dcgan.Generator(resolution=28, channels=1, width=8, num_classes=NUM_CLASSES),
    "sngan": lambda: resnet.Generator(resolution=28, channels=1, width=8, num_classes=NUM_CLASSES),
    "biggan": lambda: biggan.Generator(
        resolution=28, channels=1, width=8, num_classes=NUM_CLASSES, shared_dim=8
    ),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_one_hot_weights_give_exactly_the_int_label_images(name):
    g = GENERATORS[name]()
    z = jax.random.normal(jax.random.key(0), (6, 12))
    y = jnp.array([0, 1, 2, 3, 2, 1], jnp.int32)
    variables = g.init(jax.random.key(1), z, y, train=False)
    # Initialising with weights builds the same parameters.
    by_weights = g.init(jax.random.key(1), z, jax.nn.one_hot(y, NUM_CLASSES), train=False)
    assert jax.tree.structure(by_weights) == jax.tree.structure(variables)
    params, others = _perturbed(variables["params"]), {k: v for k, v in variables.items() if k != "params"}
    apply = lambda labels, train: g.apply(  # noqa: E731
        {"params": params, **others},
        z,
        labels,
        train=train,
        mutable=list(others) if train else False,
    )
    for train in (False, True):
        by_id, by_one_hot = apply(y, train), apply(jax.nn.one_hot(y, NUM_CLASSES), train)
        leaves_id, leaves_hot = jax.tree.leaves(by_id), jax.tree.leaves(by_one_hot)
        assert all(np.array_equal(a, b) for a, b in zip(leaves_id, leaves_hot))
    images = np.asarray(apply(y, False))
    mixed = np.asarray(apply(jnp.full((6, NUM_CLASSES), 1.0 / NUM_CLASSES), False))
    assert np.abs(mixed - images).max() > 1e-3  # weights do reach the network


def test_conditional_batchnorm_with_weights_mixes_the_embeddings():
    x = jax.random.normal(jax.random.key(0), (3, 2, 2, 5)) * 2 + 1
    cbn = layers.ConditionalBatchNorm(3)
    variables = cbn.init(jax.random.key(1), x, jnp.zeros((3,), jnp.int32), train=False)
    gamma = np.asarray(jax.random.normal(jax.random.key(2), (3, 5)))
    beta = np.asarray(jax.random.normal(jax.random.key(3), (3, 5)))
    params = {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}
    w = np.array([[0.25, 0.75, 0.0], [0.0, 0.0, 1.0], [1 / 3, 1 / 3, 1 / 3]], np.float32)
    out = cbn.apply(
        {"params": params, "batch_stats": variables["batch_stats"]}, x, jnp.asarray(w), train=False
    )
    normed = np.asarray(x) / np.sqrt(1 + 1e-5)  # running stats at init: mean 0, var 1
    want = normed * (1 + (w @ gamma))[:, None, None, :] + (w @ beta)[:, None, None, :]
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
