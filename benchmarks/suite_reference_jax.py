"""The gan_jax side of the GPU suite's reference models: s/kimg over whole lazy cycles.

    python benchmarks/suite_reference_jax.py --plan OUT/plan.json --peaks OUT/peaks.json \
        --out OUT/reference_jax.jsonl

For each precision of the plan ('mixed': the model's ``reduced_res`` highest resolutions
in bfloat16, `model.num_bf16_res`; 'float32') and each reference model (StyleGAN2-256,
StyleGAN2-1024, R3GAN-256): the config's own step with its lazy phases (one program that
decides under `jax.lax.cond`, ``lazy_dispatch='cond'``), on device-resident synthetic
uint8 batches, parameter counts checked against the plan's. Compile time is measured
apart; then ``cycles.warmup`` untimed cycles and the median of ``cycles.runs`` timed cycles
of ``cycle_steps`` = lcm of the lazy intervals (16 for StyleGAN2: every phase at its
rate), the device synchronised at the end of each. s/kimg = seconds per step / batch ×
1000, as NVlabs' tables count it. FLOPs per step are XLA's count of the compiled program,
which counts both branches of each `cond` once: an upper bound on the average step's, so
the MFU printed is an upper bound too (its source says so).

One JSON line per (model, precision), appended as soon as it is measured.
"""

import argparse
import json
import time
import traceback

import jax

import common
import suite_mfu
import suite_plan
import train_step
from gan_jax import build, config as config_lib, parallel
from gan_jax.state import count_params


def config_of(entry: dict, precision: str):
    config = config_lib.from_dict(entry["config"])
    config.model.num_bf16_res = entry["reduced_res"] if precision == "mixed" else 0
    return config


def time_cycles(config, entry: dict, cycles: dict) -> dict:
    mesh = parallel.create_mesh()
    run = build.build(config, mesh)
    shapes = run.abstract_state()
    counts = (count_params(shapes.g_params), count_params(shapes.d_params))
    if counts != (entry["g_params"], entry["d_params"]):
        raise ValueError(
            f"parameter counts {counts} differ from the plan's {(entry['g_params'], entry['d_params'])}"
        )
    state, key = run.init_state(), run.keys["train"]
    batch = train_step.synthetic_batch(config, config.batch_size, mesh)
    lowered = run.train_step().lower(state, batch, key)
    start = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    holder, steps = {"state": state}, entry["cycle_steps"]

    def cycle():
        s = holder["state"]
        for _ in range(steps):
            s, metrics = compiled(s, batch, key)
        holder["state"] = s
        return metrics

    seconds = common.median_time(cycle, jax.block_until_ready, cycles["warmup"], cycles["runs"]) / steps
    return {"seconds": seconds, "flops": suite_mfu.step_flops(compiled), "compile_s": compile_s}


def measure(entry: dict, precision: str, cycles: dict, peaks: dict) -> dict:
    config = config_of(entry, precision)
    row = {"model": entry["name"], "precision": precision, "batch": entry["batch"], "framework": "gan_jax"}
    t = time_cycles(config, entry, cycles)
    row.update(
        step_ms=1e3 * t["seconds"],
        s_per_kimg=t["seconds"] / entry["batch"] * 1000,
        images_per_s=entry["batch"] / t["seconds"],
        compile_s=t["compile_s"],
        gflop_per_step=t["flops"] / 1e9 if t["flops"] else None,
        peak_memory_mb=(common.peak_memory_bytes() or 0) / 2**20,
    )
    peak = peaks.get("bfloat16" if precision == "mixed" else "float32")
    if t["flops"] and peak:
        row["mfu"] = suite_mfu.mfu(t["flops"], t["seconds"], peak * 1e12)
        row["mfu_source"] = "upper bound: XLA counts both branches of each lazy phase's cond"
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--peaks", required=True, help="suite_mfu.py's output (absent: no MFU)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    plan = suite_plan.load(args.plan)
    try:
        peaks = suite_plan.load(args.peaks)["peak_tflops"]
    except (OSError, KeyError, ValueError):
        print(f"no matmul peaks in {args.peaks}: MFU left out")
        peaks = {}
    for precision in plan["precisions"]:
        for entry in plan["reference"]:
            try:
                row = measure(entry, precision, plan["cycles"], peaks)
            except Exception as e:  # one failed row is reported, the others still run
                traceback.print_exc()
                row = {
                    "model": entry["name"],
                    "precision": precision,
                    "framework": "gan_jax",
                    "error": f"{type(e).__name__}: {e}",
                }
            print(json.dumps(row))
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
