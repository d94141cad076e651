"""Fused vs non-fused modulated convolution (`gan_jax.models.stylegan2.layers.modulated_conv2d`).

    python benchmarks/modconv.py [--out benchmarks/results/modconv_cpu.json]

Both forms compute the same function (tests/models/test_stylegan2.py): fused = per-sample
demodulated kernels as one grouped convolution (groups = batch); non-fused = scale the
activations by the styles, one shared-kernel convolution, scale by the demodulation
coefficients. Each row times the jitted forward and the forward + backward (gradients
with respect to x, the weight and the styles, as in training) of one StyleGAN2 layer
shape; median of ``--runs`` after compilation.
"""

import argparse

import jax
import jax.numpy as jnp

import common
from gan_jax.models.stylegan2 import layers as sl
from gan_jax.ops import upfirdn2d as fir

# (batch, channels in = out, input size, up): StyleGAN2 layer shapes scaled to a CPU.
SHAPES = [(1, 256, 16, 1), (8, 256, 16, 1), (8, 128, 32, 1), (8, 256, 8, 2), (32, 128, 16, 1)]


def time_layer(batch: int, channels: int, size: int, up: int, fused: bool, runs: int) -> dict:
    keys = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(keys[0], (batch, size, size, channels))
    weight = jax.random.normal(keys[1], (3, 3, channels, channels))
    styles = 1 + 0.3 * jax.random.normal(keys[2], (batch, channels))
    f = fir.setup_filter() if up > 1 else None

    def layer(x, weight, styles):
        return sl.modulated_conv2d(x, weight, styles, up=up, padding=1, resample_filter=f, fused=fused)

    forward = jax.jit(layer)
    backward = jax.jit(jax.grad(lambda *a: jnp.sum(layer(*a) ** 2), argnums=(0, 1, 2)))
    fwd = common.median_time(lambda: forward(x, weight, styles), jax.block_until_ready, runs=runs)
    bwd = common.median_time(lambda: backward(x, weight, styles), jax.block_until_ready, runs=runs)
    return {
        "batch": batch,
        "channels": channels,
        "size": size,
        "up": up,
        "form": "fused" if fused else "nonfused",
        "forward_ms": 1e3 * fwd,
        "fwd_bwd_ms": 1e3 * bwd,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    rows = [time_layer(*shape, fused, args.runs) for shape in SHAPES for fused in (True, False)]
    columns = ["batch", "channels", "size", "up", "form", "forward_ms", "fwd_bwd_ms"]
    common.print_table(rows, columns)
    if args.out:
        common.write_json(args.out, {"machine": common.machine(), "rows": rows})


if __name__ == "__main__":
    main()
