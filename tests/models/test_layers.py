"""Conditional BatchNorm, the projection term, and class conditioning end to end."""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models import dcgan, layers


def test_conditional_batchnorm_by_hand():
    x = jax.random.normal(jax.random.key(0), (6, 3, 3, 4)) * 2 + 1
    y = jnp.array([0, 1, 2, 0, 1, 2])
    cbn = layers.ConditionalBatchNorm(3)
    variables = cbn.init(jax.random.key(1), x, y, train=True)
    normed = (x - x.mean((0, 1, 2))) / jnp.sqrt(x.var((0, 1, 2)) + 1e-5)
    out, _ = cbn.apply(variables, x, y, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(out, normed, atol=1e-5)  # zero embeddings: plain BN
    params = jax.tree.map(lambda a: a, variables["params"])
    gamma = jax.random.normal(jax.random.key(2), (3, 4))
    beta = jax.random.normal(jax.random.key(3), (3, 4))
    params = {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}
    out, _ = cbn.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, y, train=True,
                       mutable=["batch_stats"])
    want = normed * (1 + gamma[y][:, None, None, :]) + beta[y][:, None, None, :]
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_projection_is_the_inner_product_with_the_class_embedding():
    h = jax.random.normal(jax.random.key(0), (5, 7))
    y = jnp.array([0, 3, 3, 1, 2])
    proj = layers.Projection(4)
    variables = proj.init(jax.random.key(1), h, y)
    e = variables["params"]["embed"]["embedding"]
    np.testing.assert_allclose(proj.apply(variables, h, y), np.sum(np.asarray(e)[y] * np.asarray(h), -1),
                               rtol=1e-5)


def test_conditional_generator_draws_different_images_per_class_from_the_same_z():
    g = dcgan.Generator(resolution=28, channels=1, width=8, num_classes=10)
    z = jnp.tile(jax.random.normal(jax.random.key(0), (1, 100)), (10, 1))
    y = jnp.arange(10)
    variables = g.init(jax.random.key(1), z, y, train=False)
    # Give the class embeddings values, as training would.
    params = jax.tree_util.tree_map_with_path(
        lambda path, p: jax.random.normal(jax.random.key(len(path)), p.shape) * 0.5
        if "gamma" in str(path) or "beta" in str(path) else p, variables["params"])
    images = g.apply({"params": params, "batch_stats": variables["batch_stats"]}, z, y, train=False)
    flat = np.asarray(images).reshape(10, -1)
    distances = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    assert (distances[~np.eye(10, dtype=bool)] > 1e-3).all()


def test_unconditional_models_ignore_labels():
    g = dcgan.Generator(resolution=28, channels=1, width=8)
    z = jax.random.normal(jax.random.key(0), (4, 100))
    v = g.init(jax.random.key(1), z, train=False)
    np.testing.assert_array_equal(g.apply(v, z, jnp.array([0, 1, 2, 3]), train=False),
                                  g.apply(v, z, None, train=False))


def test_conditional_run_end_to_end(tiny_config, tmp_path):
    from gan_jax.trainer import train_and_evaluate
    from PIL import Image

    tiny_config.model.num_classes = 4
    tiny_config.sample.num_images = 12
    tiny_config.num_steps = 2
    state = train_and_evaluate(tiny_config, str(tmp_path))
    assert state.d_params["Projection_0"]["embed"]["embedding"].shape == (4, 7 * 7 * 16)
    grid = np.asarray(Image.open(tmp_path / "samples" / "step_0000002.png"))
    assert grid.shape == (4 * 30 + 2, 3 * 30 + 2)  # 4 class rows x 3 columns of 28px + 2px pad
