"""The gan_jax side of the GPU suite: each model's compiled train step, timed, with its MFU.

    python benchmarks/suite_jax_steps.py --plan OUT/plan.json --peaks OUT/peaks.json \
        --out OUT/jax_steps.jsonl

For each dtype of the plan and each model: the config's own compiled train step (``n_critic``
D updates, one G update, EMA, DiffAugment where the config has it) on device-resident
synthetic uint8 batches, with the parameter counts checked against the plan's. Compile time
is measured apart; then ``warmup`` untimed runs and the median of ``runs`` runs of ``steps``
consecutive steps each, the device synchronised at the end of each run. FLOPs per step are
XLA's cost analysis of the compiled step (for DCGAN with its transposed convolutions in
the plain form, `train_step.model_flops`, when another form is in use); the count of the
lowered, not yet optimised program is recorded beside it as a cross-check, and used when
the compiled program has none. MFU divides the achieved FLOP/s by the measured matmul
peak of the step's dtype (`suite_mfu`).

One JSON line per (model, dtype), appended as soon as it is measured, so a time limit
loses only the row in progress; a row that fails is written with its error.
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
from gan_jax import parallel
from gan_jax.training import build
from gan_jax.ops import policy as ops_policy
from gan_jax.training.state import count_params


def flops_per_step(config, compiled, state, batch, key, mesh) -> float | None:
    """The model's FLOPs per step: the compiled step's count, or for DCGAN with a
    reformulated transposed convolution the count of its plain form."""
    form = ops_policy.for_devices(config.ops, list(mesh.devices.flat)).conv_transpose
    if config.model.architecture == "dcgan" and form != "native":
        return train_step.model_flops(config, state, batch, key, mesh)
    return suite_mfu.step_flops(compiled)


def time_step(config, timing: dict, expected: tuple[int, int]) -> dict:
    """Compile, check parameter counts, time; seconds per step and FLOPs per step."""
    mesh = parallel.create_mesh()
    run = build.build(config, mesh)
    if any(p.every > 1 for p in run.phases):
        raise ValueError("the suite's models have no lazy phases; this config has")
    shapes = run.abstract_state()  # the counts first: a different network fails before any work
    counts = (count_params(shapes.g_params), count_params(shapes.d_params))
    if counts != tuple(expected):
        raise ValueError(f"parameter counts {counts} differ from the plan's {tuple(expected)}")
    state = run.init_state()
    batch = train_step.synthetic_batch(config, config.batch_size, mesh)
    key = run.keys["train"]
    lowered = run.train_step().lower(state, batch, key)
    start = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    flops, source = flops_per_step(config, compiled, state, batch, key, mesh), "compiled"
    hlo_flops = suite_mfu.step_flops(lowered)  # before XLA's optimisations: a cross-check
    if not flops:
        flops, source = hlo_flops, "lowered (no count in the compiled program)"
    holder, steps = {"state": state}, timing["steps"]

    def steps_run():
        s = holder["state"]
        for _ in range(steps):
            s, metrics = compiled(s, batch, key)
        holder["state"] = s
        return metrics

    seconds = common.median_time(steps_run, jax.block_until_ready, timing["warmup"], timing["runs"]) / steps
    return {
        "seconds": seconds,
        "flops": flops,
        "flops_source": source,
        "hlo_flops": hlo_flops,
        "compile_s": compile_s,
    }


def measure(model: dict, dtype: str, timing: dict, peaks: dict) -> dict:
    config = suite_plan.config_of(model, dtype)
    row = {"model": model["name"], "dtype": dtype, "batch": model["batch"], "n_critic": model["n_critic"]}
    t = time_step(config, timing, (model["g_params"], model["d_params"]))
    row.update(
        step_ms=1e3 * t["seconds"],
        images_per_s=model["batch"] / t["seconds"],
        compile_s=t["compile_s"],
        gflop_per_step=t["flops"] / 1e9 if t["flops"] else None,
        flops_source=t["flops_source"],
        lowered_gflop_per_step=t["hlo_flops"] / 1e9 if t["hlo_flops"] else None,
        peak_memory_mb=(common.peak_memory_bytes() or 0) / 2**20,
    )
    peak = peaks.get(dtype)
    if t["flops"] and peak:
        row["tflop_per_s"] = t["flops"] / t["seconds"] / 1e12
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
    for dtype in plan["dtypes"]:
        for model in plan["models"]:
            try:
                row = measure(model, dtype, plan["timing"], peaks)
            except Exception as e:  # one failed row is reported, the others still run
                traceback.print_exc()
                row = {"model": model["name"], "dtype": dtype, "error": f"{type(e).__name__}: {e}"}
            print(json.dumps(row))
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
