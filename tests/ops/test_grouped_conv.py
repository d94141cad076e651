"""The two grouped-convolution formulations against a brute-force loop and each other,
in value and in gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.ops import grouped_conv as gc


def _brute_force(x, kernel, groups, padding):
    """y[b,i,j,o] = Σ_{a,c,ci} xpad[b,i+a,j+c,g·I+ci]·k[a,c,ci,o], g = o // (O/G)."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    b, h, w, _ = x.shape
    kh, kw, cin, cout = kernel.shape
    og = cout // groups
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    y = np.zeros((b, ho, wo, cout))
    for o in range(cout):
        g = o // og
        for a in range(kh):
            for c in range(kw):
                y[..., o] += xp[:, a : a + ho, c : c + wo, g * cin : (g + 1) * cin] @ kernel[a, c, :, o]
    return y


@pytest.mark.parametrize("form", ["native", "split"])
@pytest.mark.parametrize("groups,cin,cout,k", [(1, 4, 6, 3), (4, 8, 8, 3), (3, 6, 9, 1), (8, 16, 16, 3)])
def test_value_against_brute_force(form, groups, cin, cout, k):
    x = jax.random.normal(jax.random.key(0), (2, 5, 6, cin))
    kernel = jax.random.normal(jax.random.key(1), (k, k, cin // groups, cout))
    got = gc.grouped_conv(x, kernel, groups, (k - 1) // 2, form)
    np.testing.assert_allclose(got, _brute_force(x, kernel, groups, (k - 1) // 2), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("groups", [2, 8])
def test_split_gradients_equal_native(groups):
    x = jax.random.normal(jax.random.key(0), (3, 6, 6, 2 * groups))
    kernel = jax.random.normal(jax.random.key(1), (3, 3, 2, 3 * groups))
    target = jax.random.normal(jax.random.key(2), (3, 6, 6, 3 * groups))

    def loss(form):
        return lambda x, k: jnp.sum(jnp.tanh(gc.grouped_conv(x, k, groups, 1, form)) * target)

    want = jax.grad(loss("native"), argnums=(0, 1))(x, kernel)
    got = jax.jit(jax.grad(loss("split"), argnums=(0, 1)))(x, kernel)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_unknown_form_is_refused():
    x, kernel = jnp.zeros((1, 4, 4, 4)), jnp.zeros((3, 3, 2, 4))
    with pytest.raises(ValueError, match="grouped convolution form 'fft'"):
        gc.grouped_conv(x, kernel, 2, 1, "fft")
