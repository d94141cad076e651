"""Train-step throughput of gan_jax: images/s, steps/s, compile time, peak memory, MFU.

    python benchmarks/train_step.py --configs dcgan_cifar10,dcgan_celeba64 --batch_sizes 64,128

For each config and batch size: the config's own compiled train step (n_critic D updates
and one G update, EMA, everything the trainer runs) on device-resident synthetic batches,
timed as the median over ``--runs`` runs of ``--steps`` consecutive steps each, after a
warm-up. FLOPs per step come from XLA's cost analysis of the step with every layer in its plain
form (`model_flops`; the executed program may do more, reported as hardware FLOPs); MFU
divides the achieved model FLOP/s by the measured matmul peak of the same chip and dtype
(`common.measured_peak_flops`). Prints a table and writes JSON.
"""

import argparse
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import common
from gan_jax import parallel
from gan_jax.training import build
from gan_jax.config import real_batches_per_step
from gan_jax.training.state import count_params


def synthetic_batch(config, batch_size: int, mesh) -> dict:
    """A device-resident batch in the step's layout: uint8 images, int32 labels."""
    rng = np.random.default_rng(0)
    res, ch, k = config.dataset.resolution, config.dataset.channels, real_batches_per_step(config)
    images = rng.integers(0, 256, (k, batch_size, res, res, ch), dtype=np.uint8)
    labels = rng.integers(0, max(config.model.num_classes, 1), (k, batch_size)).astype(np.int32)
    sharding = parallel.data_sharded(mesh, leading_unsharded=1)
    return {"image": jax.device_put(images, sharding), "label": jax.device_put(labels, sharding)}


def flops_of(compiled) -> float | None:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    return float(analysis["flops"]) if analysis and "flops" in analysis else None


def model_flops(config, state, batch, key, mesh) -> float | None:
    """FLOPs of one step as the model defines it: XLA's count for the step compiled with
    every layer in its plain form (``ops.conv_transpose='native'``), so that a faster
    reformulation doing extra multiply-adds (the sub-pixel convolution's zero taps) does
    not inflate MFU."""
    plain = config.copy_and_resolve_references()
    plain.ops.conv_transpose = "native"
    step = build.build(plain, mesh).train_step()
    return flops_of(step.lower(state, batch, key).compile())


def apply_overrides(config, overrides: list[str]) -> None:
    """``section.field=value`` strings, typed like the field they replace."""
    for item in overrides:
        key, value = item.split("=", 1)
        *path, field = key.split(".")
        node = config
        for part in path:
            node = node[part]
        old = node[field]
        node[field] = type(old)(value == "True" if isinstance(old, bool) else value)


def bench_one(
    name: str, batch_size: int, dtype: str, steps: int, runs: int, peak: float, overrides: list[str] = ()
) -> dict:
    config = common.load_config(name)
    apply_overrides(config, overrides)
    config.batch_size = batch_size
    config.model.dtype = dtype
    mesh = parallel.create_mesh()
    run_ = build.build(config, mesh)
    state = run_.init_state()
    batch = synthetic_batch(config, batch_size, mesh)
    key = run_.keys["train"]
    lazy = [p.every for p in run_.phases if p.every > 1]
    # Lazy phases: time whole cycles of the trainer's stepper (the first, untimed, compiles
    # its variants); the FLOP counts are those of the steps where no lazy phase runs.
    steps = math.lcm(steps, *lazy) if lazy else steps
    plain_step = run_.train_step({p.name: False for p in run_.phases if p.every > 1} if lazy else None)

    start = time.perf_counter()
    compiled = plain_step.lower(state, batch, key).compile()
    compile_s = time.perf_counter() - start
    hardware_flops = flops_of(compiled)
    flops = model_flops(config, state, batch, key, mesh) if not lazy else hardware_flops
    stepper = run_.stepper() if lazy else (lambda s, b, k, i: compiled(s, b, k))

    holder = {"state": state}

    def run():
        s = holder["state"]
        for i in range(steps):
            s, metrics = stepper(s, batch, key, i)
        holder["state"] = s
        return metrics

    seconds = common.median_time(run, jax.block_until_ready, warmup=3, runs=runs) / steps
    row = {
        "config": name + "".join(f" {o}" for o in overrides),
        "batch": batch_size,
        "dtype": dtype,
        "n_critic": config.n_critic,
        "steps_timed": steps,
        "g_params": count_params(state.g_params),
        "d_params": count_params(state.d_params),
        "steps_per_s": 1.0 / seconds,
        "images_per_s": batch_size / seconds,
        "compile_s": compile_s,
        "step_ms": 1000 * seconds,
        "peak_memory_mb": (common.peak_memory_bytes() or 0) / 2**20,
        "gflop_per_step": flops / 1e9 if flops else None,
        "hardware_gflop_per_step": hardware_flops / 1e9 if hardware_flops else None,
    }
    if flops:
        row["tflop_per_s"] = flops / seconds / 1e12
        row["mfu"] = flops / seconds / peak
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="dcgan_cifar10,dcgan_celeba64")
    parser.add_argument("--batch_sizes", default="64,128")
    parser.add_argument("--dtypes", default="float32")
    parser.add_argument("--steps", type=int, default=5, help="consecutive steps per timed run")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        help="config override, e.g. ops.conv_transpose=native; each --variants entry is run as well",
    )
    parser.add_argument(
        "--variants",
        default="",
        help="';'-separated override lists to compare, "
        "e.g. 'ops.conv_transpose=native;ops.conv_transpose=subpixel'",
    )
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    info = common.machine()
    peaks = {dt: common.measured_peak_flops(jnp.dtype(dt)) for dt in args.dtypes.split(",")}
    info["measured_peak_tflops"] = {dt: p / 1e12 for dt, p in peaks.items()}
    print(
        f"{info['device']} x{info['device_count']} ({info['backend']}), jax {info['jax']}; "
        f"matmul peak " + ", ".join(f"{dt} {p / 1e12:.2f} TFLOP/s" for dt, p in peaks.items())
    )
    rows = []
    for name in args.configs.split(","):
        for batch_size in map(int, args.batch_sizes.split(",")):
            for dtype in args.dtypes.split(","):
                for variant in args.variants.split(";") if args.variants else [""]:
                    overrides = args.set + [o for o in variant.split(",") if o]
                    rows.append(
                        bench_one(name, batch_size, dtype, args.steps, args.runs, peaks[dtype], overrides)
                    )
                    common.print_table(rows[-1:], list(rows[-1]))
    print()
    common.print_table(
        rows,
        [
            "config",
            "batch",
            "dtype",
            "images_per_s",
            "steps_per_s",
            "step_ms",
            "compile_s",
            "peak_memory_mb",
            "gflop_per_step",
            "mfu",
        ],
    )
    out = args.out or os.path.join(common.REPO, "benchmarks", "results", f"train_step_{info['backend']}.json")
    common.write_json(out, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
