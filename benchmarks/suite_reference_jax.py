"""The gan_jax side of the GPU suite's reference models: s/kimg over whole lazy cycles.

    python benchmarks/suite_reference_jax.py --plan OUT/plan.json --peaks OUT/peaks.json \
        --out OUT/reference_jax.jsonl

For each precision of the plan ('mixed': the model's ``reduced_res`` highest resolutions
in bfloat16, ``model.<architecture>.num_bf16_res``; 'float32') and each reference model (StyleGAN2-256,
StyleGAN2-1024, R3GAN-256): the config's own step with its lazy phases as training runs
them (``lazy_dispatch='variants'``: one compiled program per pattern of due lazy phases,
three for StyleGAN2), on device-resident synthetic uint8 batches, parameter counts checked
against the plan's. Compilation of the programs is measured apart; then
``cycles.warmup`` untimed cycles and the median of ``cycles.runs`` timed cycles of
``cycle_steps`` = lcm of the lazy intervals (16 for StyleGAN2: every phase at its rate),
the device synchronised at the end of each. s/kimg = seconds per step / batch × 1000, as
NVlabs' tables count it. FLOPs per step: the mean over the cycle of XLA's count of each
step's program; MFU divides it by the measured matmul peak of the precision's dtype.

One JSON line per (model, precision), appended as soon as it is measured.
"""

import argparse
import json
import math
import time
import traceback

import jax

import common
import suite_mfu
import suite_plan
import train_step
from gan_jax import config as config_lib, parallel
from gan_jax.training import build
from gan_jax.training.state import count_params


def config_of(entry: dict, precision: str):
    config = config_lib.from_dict(entry["config"])
    config.model[config.model.architecture].num_bf16_res = entry["reduced_res"] if precision == "mixed" else 0
    return config


def compiled_variants(run, state, batch, key) -> tuple[dict, float]:
    """{due pattern: compiled step} for every pattern of due lazy phases a cycle meets
    (`build.Run.stepper`'s programs, ``lazy_dispatch='variants'``), and the seconds their
    compilation took."""
    lazy = [p for p in run.phases if p.every > 1]
    cycle = math.lcm(1, *(p.every for p in lazy))
    patterns = sorted({tuple(t % p.every == 0 for p in lazy) for t in range(cycle)})
    programs, start = {}, time.perf_counter()
    for due in patterns:
        step = run.train_step(dict(zip((p.name for p in lazy), due)) if lazy else None)
        programs[due] = step.lower(state, batch, key).compile()
    return programs, time.perf_counter() - start


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
    programs, compile_s = compiled_variants(run, state, batch, key)
    lazy = [p for p in run.phases if p.every > 1]
    order = [programs[tuple(t % p.every == 0 for p in lazy)] for t in range(entry["cycle_steps"])]
    flops = [suite_mfu.step_flops(program) for program in order]
    holder = {"state": state}

    def cycle():
        s = holder["state"]
        for program in order:
            s, metrics = program(s, batch, key)
        holder["state"] = s
        return metrics

    seconds = common.median_time(cycle, jax.block_until_ready, cycles["warmup"], cycles["runs"]) / len(order)
    mean_flops = sum(flops) / len(flops) if all(flops) else None
    return {"seconds": seconds, "flops": mean_flops, "compile_s": compile_s, "programs": len(programs)}


def measure(entry: dict, precision: str, cycles: dict, peaks: dict) -> dict:
    config = config_of(entry, precision)
    row = {"model": entry["name"], "precision": precision, "batch": entry["batch"], "framework": "gan_jax"}
    t = time_cycles(config, entry, cycles)
    row.update(
        step_ms=1e3 * t["seconds"],
        s_per_kimg=t["seconds"] / entry["batch"] * 1000,
        images_per_s=entry["batch"] / t["seconds"],
        compile_s=t["compile_s"],
        programs=t["programs"],
        gflop_per_step=t["flops"] / 1e9 if t["flops"] else None,
        peak_memory_mb=(common.peak_memory_bytes() or 0) / 2**20,
    )
    peak = peaks.get("bfloat16" if precision == "mixed" else "float32")
    if t["flops"] and peak:
        row["mfu"] = suite_mfu.mfu(t["flops"], t["seconds"], peak * 1e12)
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
