"""Grouped convolution (Krizhevsky et al. 2012; ResNeXt, Xie et al. 2017) in two formulations.

With G groups, input channels split into G contiguous slices of C/G and output channels
into G slices of O/G; slice g of the output sees only slice g of the input:

    y[..., g] = x[..., g] ⋆ k[..., g]        k: HWIO with I = C/G, g = 0 … G−1

``native`` is XLA's own grouped convolution (``feature_group_count``), which GPU and TPU
run as one kernel. ``split`` is G dense convolutions on the slices, concatenated: the
same arithmetic, and much the faster form on XLA:CPU, whose grouped convolution is a
generic loop (docs/r3gan.md, "Speed on this CPU"). `gan_jax.ops.policy` picks the form.

A 1×1 convolution without groups or padding is `pointwise`: a matmul over the pixels
flattened to 2-D, whose weight gradient XLA:CPU computes as one GEMM (about 5× faster
than the 1×1 convolution's or a 4-D contraction's; docs/benchmarks.md).
"""

import jax
import jax.numpy as jnp

FORMS = ("native", "split")
_NHWC = ("NHWC", "HWIO", "NHWC")


def pointwise(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """1×1 correlation of NHWC ``x`` with a (1, 1, C, O) kernel, as a 2-D matmul."""
    y = x.reshape(-1, x.shape[-1]) @ kernel[0, 0]
    return y.reshape(x.shape[:-1] + (kernel.shape[-1],))


def grouped_conv(
    x: jax.Array, kernel: jax.Array, groups: int, padding: int, form: str = "native"
) -> jax.Array:
    """Stride-1 correlation of NHWC ``x`` with the HWIO ``kernel`` (I = C/groups), padded
    by ``padding`` on each side, in ``groups`` groups, in ``form`` ('native' | 'split')."""
    if form not in FORMS:
        raise ValueError(f"grouped convolution form {form!r}; expected one of {FORMS}")
    if kernel.shape[:2] == (1, 1) and groups == 1 and padding == 0:
        return pointwise(x, kernel)
    pad = ((padding, padding), (padding, padding))
    if groups == 1 or form == "native":
        return jax.lax.conv_general_dilated(
            x, kernel, (1, 1), pad, dimension_numbers=_NHWC, feature_group_count=groups
        )
    xs = jnp.split(x, groups, axis=-1)
    ks = jnp.split(kernel, groups, axis=-1)
    return jnp.concatenate(
        [jax.lax.conv_general_dilated(a, b, (1, 1), pad, dimension_numbers=_NHWC) for a, b in zip(xs, ks)],
        axis=-1,
    )
