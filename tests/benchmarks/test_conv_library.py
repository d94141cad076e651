"""benchmarks/conv_library.py: every convolution read out of a compiled program is rebuilt
as the same convolution (same values), and the compiler option it times really moves
the convolutions out of YNNPACK."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO
from gan_jax.ops import conv4x4

sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import conv_library  # noqa: E402


def _step(x, kernel):
    """DCGAN's strided convolution with both gradients: a forward, an input-dilated
    convolution and a weight gradient in one program."""
    y, vjp = jax.vjp(conv4x4.down, x, kernel)
    dx, dk = vjp(jnp.ones_like(y) * 0.5 + y)
    return y, dx, dk


def _brute_force(conv, lhs, rhs):
    """The HLO convolution by its definition, in NumPy loops over the kernel taps."""
    _, _, _, window, labels, groups, batch_groups = conv
    assert groups == 1 and batch_groups == 1
    lhs_order = [labels[0].index(c) for c in "bf01"]
    rhs_order = [labels[1].index(c) for c in "oi01"]
    a = np.transpose(np.asarray(lhs, np.float64), lhs_order)  # (N, C, H, W)
    k = np.transpose(np.asarray(rhs, np.float64), rhs_order)  # (O, I, kH, kW)
    stride = conv_library._window(window, "stride", [1, 1])
    pad = conv_library._window(window, "pad", [(0, 0), (0, 0)])
    lhs_dilation = conv_library._window(window, "lhs_dilate", [1, 1])
    rhs_dilation = conv_library._window(window, "rhs_dilate", [1, 1])
    n, c, h, w = a.shape
    dilated = np.zeros((n, c, (h - 1) * lhs_dilation[0] + 1, (w - 1) * lhs_dilation[1] + 1))
    dilated[:, :, :: lhs_dilation[0], :: lhs_dilation[1]] = a
    a = np.pad(dilated, ((0, 0), (0, 0), pad[0], pad[1]))
    o, _, kh, kw = k.shape
    span = ((kh - 1) * rhs_dilation[0] + 1, (kw - 1) * rhs_dilation[1] + 1)
    oh = (a.shape[2] - span[0]) // stride[0] + 1
    ow = (a.shape[3] - span[1]) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            r, q = i * rhs_dilation[0], j * rhs_dilation[1]
            patch = a[
                :,
                :,
                r : r + stride[0] * (oh - 1) + 1 : stride[0],
                q : q + stride[1] * (ow - 1) + 1 : stride[1],
            ]
            out += np.einsum("nchw,oc->nohw", patch, k[:, :, i, j])
    out_order = [labels[2].index(c) for c in "bf01"]
    return np.transpose(out, np.argsort(out_order))


def _operands(conv, seed):
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal(shape, np.float32)) for shape in conv[1:3]]


@pytest.mark.parametrize("options", [None, conv_library.NO_YNN])
def test_parsed_convolutions_are_rebuilt_exactly(options):
    x = jnp.ones((4, 16, 16, 24))
    kernel = jnp.ones((4, 4, 24, 32))
    jitted = jax.jit(_step, compiler_options=options) if options else jax.jit(_step)
    convs = conv_library.parse_convolutions(jitted.lower(x, kernel).compile().as_text())
    assert sum(convs.values()) >= 3
    assert {conv_library.role(c) for c in convs} >= {"forward", "input-dilated", "weight gradient"}
    for i, conv in enumerate(convs):
        a, b = _operands(conv, i)
        out = jax.jit(conv_library.conv_fn(conv))(a, b)
        assert out.shape == conv[0]
        np.testing.assert_allclose(out, _brute_force(conv, a, b), rtol=1e-4, atol=1e-4)


def test_rebuilt_forward_matches_the_layer():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 8, 8, 20), np.float32))
    kernel = jnp.asarray(np.random.default_rng(1).standard_normal((4, 4, 20, 24), np.float32))
    convs = conv_library.parse_convolutions(jax.jit(conv4x4.down).lower(x, kernel).compile().as_text())
    (conv,) = convs
    assert conv_library.role(conv) == "forward" and conv[1] == x.shape and conv[2] == kernel.shape
    np.testing.assert_allclose(
        conv_library.conv_fn(conv)(x, kernel), conv4x4.down(x, kernel), rtol=1e-5, atol=1e-5
    )


def test_library_option_moves_convolutions_to_eigen():
    conv = (
        (8, 8, 8, 64),
        (8, 16, 16, 32),
        (4, 4, 32, 64),
        "size=4x4 stride=2x2 pad=1_1x1_1",
        ("b01f", "01io", "b01f"),
        1,
        1,
    )
    seconds, library = conv_library.time_conv(conv, conv_library.NO_YNN, runs=1)
    assert library == "Eigen" and seconds > 0
    _, default_library = conv_library.time_conv(conv, None, runs=1)
    assert default_library in ("YNNPACK", "Eigen")  # which one is XLA's choice for this build
