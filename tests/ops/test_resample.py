"""StyleGAN2's resampling convolution (`gan_jax.ops.resample`): the transposed-convolution
fast path against the plain composition NVlabs' generic path computes, and its custom
gradients against the ones XLA takes of the same convolution, to second order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.ops import resample
from gan_jax.ops import upfirdn2d as fir

_NHWC = ("NHWC", "HWIO", "NHWC")


def test_upsampling_conv_equals_zero_insertion_filter_then_convolution():
    """Zero insertion + FIR with gain 4 and padding (3, 2), then a true 3×3 convolution."""
    x = jax.random.normal(jax.random.key(0), (2, 5, 5, 3))
    w = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
    f = fir.setup_filter()
    got = resample.conv2d_resample(x, w, f, up=2, padding=1)
    up = fir.upfirdn2d(x, f, up=2, padding=(3, 2, 3, 2), gain=4.0)
    want = jax.lax.conv_general_dilated(up, jnp.flip(w, (0, 1)), (1, 1), "VALID", dimension_numbers=_NHWC)
    assert got.shape == (2, 10, 10, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_downsampling_conv_equals_filter_then_strided_convolution():
    """FIR with padding (2, 1) + 1, then the stride-2 3×3 correlation."""
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    w = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
    f = fir.setup_filter()
    got = resample.conv2d_resample(x, w, f, down=2, padding=1)
    blurred = fir.upfirdn2d(x, f, padding=(2, 2, 2, 2))
    want = jax.lax.conv_general_dilated(blurred, w, (2, 2), "VALID", dimension_numbers=_NHWC)
    assert got.shape == (2, 4, 4, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("groups", [1, 2])
def test_transposed_convolution_gradients_equal_xla_to_second_order(groups):
    """The custom-gradient transposed convolution (adjoint strided correlation) against
    XLA's differentiation of the same input-dilated convolution: the output, ∂/∂x, ∂/∂w and
    the gradient of ‖∂f/∂x‖² w.r.t. w (the term R1 and path length differentiate)."""
    x = jax.random.normal(jax.random.key(0), (2, 5, 4, 4))
    w = jax.random.normal(jax.random.key(1), (3, 3, 4 // groups, 6)) * 0.3
    v = jax.random.normal(jax.random.key(2), (2, 9, 7, 6))  # (n − 1)·2 + 3 − 2·1
    fast = lambda x, w: resample._conv_transpose(x, w, 2, (1, 1), groups)  # noqa: E731
    plain = lambda x, w: resample._dilated_conv(x, w, 2, (1, 1), groups)  # noqa: E731

    def terms(fn):
        f = lambda x, w: jnp.sum(jnp.tanh(fn(x, w)) * v)  # noqa: E731
        r1 = lambda w: jnp.sum(jnp.square(jax.grad(f)(x, w)))  # noqa: E731
        return (fn(x, w), *jax.grad(f, argnums=(0, 1))(x, w), jax.grad(r1)(w))

    assert fast(x, w).shape == (2, 9, 7, 6)
    for got, want in zip(terms(fast), terms(plain)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
