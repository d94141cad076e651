"""Layers: conditional BatchNorm, projection, spectral norm, orthogonal init, self-attention;
class conditioning end to end."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import dcgan, layers
from gan_jax.ops.policy import Policy


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
    out, _ = cbn.apply(
        {"params": params, "batch_stats": variables["batch_stats"]}, x, y, train=True, mutable=["batch_stats"]
    )
    want = normed * (1 + gamma[y][:, None, None, :]) + beta[y][:, None, None, :]
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_projection_is_the_inner_product_with_the_class_embedding():
    h = jax.random.normal(jax.random.key(0), (5, 7))
    y = jnp.array([0, 3, 3, 1, 2])
    proj = layers.Projection(4)
    variables = proj.init(jax.random.key(1), h, y)
    e = variables["params"]["embed"]["embedding"]
    np.testing.assert_allclose(
        proj.apply(variables, h, y), np.sum(np.asarray(e)[y] * np.asarray(h), -1), rtol=1e-5
    )


def test_conditional_generator_draws_different_images_per_class_from_the_same_z():
    g = dcgan.Generator(resolution=28, channels=1, width=8, num_classes=10)
    z = jnp.tile(jax.random.normal(jax.random.key(0), (1, 100)), (10, 1))
    y = jnp.arange(10)
    variables = g.init(jax.random.key(1), z, y, train=False)
    # Give the class embeddings values, as training would.
    params = jax.tree_util.tree_map_with_path(
        lambda path, p: (
            jax.random.normal(jax.random.key(len(path)), p.shape) * 0.5
            if "gamma" in str(path) or "beta" in str(path)
            else p
        ),
        variables["params"],
    )
    images = g.apply({"params": params, "batch_stats": variables["batch_stats"]}, z, y, train=False)
    flat = np.asarray(images).reshape(10, -1)
    distances = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    assert (distances[~np.eye(10, dtype=bool)] > 1e-3).all()


def test_unconditional_models_ignore_labels():
    g = dcgan.Generator(resolution=28, channels=1, width=8)
    z = jax.random.normal(jax.random.key(0), (4, 100))
    v = g.init(jax.random.key(1), z, train=False)
    np.testing.assert_array_equal(
        g.apply(v, z, jnp.array([0, 1, 2, 3]), train=False), g.apply(v, z, None, train=False)
    )


def test_conditional_run_end_to_end(tiny_config, tmp_path):
    from gan_jax.run.trainer import train_and_evaluate
    from PIL import Image

    tiny_config.model.num_classes = 4
    tiny_config.sample.num_images = 12
    tiny_config.num_steps = 2
    state = train_and_evaluate(tiny_config, str(tmp_path))
    assert state.d_params["Projection_0"]["embed"]["embedding"].shape == (4, 7 * 7 * 16)
    grid = np.asarray(Image.open(tmp_path / "samples" / "step_0000002.png"))
    assert grid.shape == (4 * 30 + 2, 3 * 30 + 2)  # 4 class rows x 3 columns of 28px + 2px pad


def test_spectral_norm_estimate_matches_the_largest_singular_value():
    x = jax.random.normal(jax.random.key(0), (3, 8, 8, 5))
    sn = layers.spectral_norm(nn.Conv(7, (3, 3)))
    variables = sn.init(jax.random.key(1), x, update_stats=True)
    kernel = np.asarray(variables["params"]["layer_instance"]["kernel"])
    sigma = np.linalg.svd(kernel.reshape(-1, 7), compute_uv=False)[0]
    state = {"spectral": variables["spectral"]}
    for _ in range(50):  # power iteration converges geometrically
        _, state = sn.apply(
            {"params": variables["params"], **state}, x, update_stats=True, mutable=["spectral"]
        )
    estimate = float(state["spectral"]["layer_instance/kernel/sigma"])
    assert estimate == pytest.approx(sigma, rel=1e-4)
    # In inference the layer applies W / σ: compare with the plain layer divided by σ.
    plain = nn.Conv(7, (3, 3)).apply({"params": variables["params"]["layer_instance"]}, x)
    bias = np.asarray(variables["params"]["layer_instance"]["bias"])
    normalised = sn.apply({"params": variables["params"], **state}, x, update_stats=False)
    np.testing.assert_allclose(normalised - bias, (np.asarray(plain) - bias) / estimate, rtol=1e-4, atol=1e-5)


def test_spectral_vector_moves_only_when_updating():
    x = jax.random.normal(jax.random.key(0), (2, 4))
    sn = layers.spectral_norm(nn.Dense(3))
    variables = sn.init(jax.random.key(1), x, update_stats=True)
    _, frozen = sn.apply(variables, x, update_stats=False, mutable=["spectral"])
    _, moved = sn.apply(variables, x, update_stats=True, mutable=["spectral"])
    leaves = lambda t: jax.tree.leaves(t["spectral"])  # noqa: E731
    assert all(np.array_equal(a, b) for a, b in zip(leaves(frozen), leaves(variables)))
    assert not all(np.array_equal(a, b) for a, b in zip(leaves(moved), leaves(variables)))


def test_orthogonal_init_is_orthogonal():
    w = np.asarray(layers.orthogonal_init(jax.random.key(0), (16, 16)))
    np.testing.assert_allclose(w.T @ w, np.eye(16), atol=1e-5)


def test_self_attention_is_identity_at_init_and_matches_brute_force():
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, 16))
    attn = layers.SelfAttention()
    variables = attn.init(jax.random.key(1), x)
    np.testing.assert_array_equal(attn.apply(variables, x), x)  # γ = 0
    params = dict(variables["params"], gamma=jnp.array(0.7))
    got = np.asarray(attn.apply({"params": params}, x))
    p = {k: np.asarray(v["kernel"])[0, 0] for k, v in params.items() if k != "gamma"}
    xn = np.asarray(x)
    for b in range(2):
        q = xn[b].reshape(16, 16) @ p["query"]
        pool = lambda t: t.reshape(2, 2, 2, 2, -1).max(axis=(1, 3)).reshape(4, -1)  # noqa: E731
        k = pool(xn[b] @ p["key"])
        v = pool(xn[b] @ p["value"])
        logits = q @ k.T
        weights = np.exp(logits - logits.max(1, keepdims=True))
        weights /= weights.sum(1, keepdims=True)
        want = xn[b] + 0.7 * ((weights @ v) @ p["out"]).reshape(4, 4, 16)
        np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("form", ["native", "adjoint", "subpixel"])
def test_upconv_equals_flax_conv_transpose_forward_and_gradients(form):
    """UpConv in each form of its policy computes nn.ConvTranspose's function, with its
    parameters: same output and same gradients w.r.t. input, kernel and bias."""
    x = jax.random.normal(jax.random.key(0), (3, 5, 7, 6))
    reference = nn.ConvTranspose(4, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))
    params = reference.init(jax.random.key(1), x)
    ours = layers.UpConv(4, policy=Policy(conv_transpose=form))
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, params)
    np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)
    assert ours.apply(params, x).shape == (3, 10, 14, 4)
    v = jax.random.normal(jax.random.key(2), (3, 10, 14, 4))
    loss = lambda module: lambda p, t: jnp.sum(jnp.tanh(module.apply(p, t)) * v)  # noqa: E731
    g_ref = jax.grad(loss(reference), argnums=(0, 1))(params, x)
    g_ours = jax.grad(loss(ours), argnums=(0, 1))(params, x)
    for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
