"""Lazy phases inside one program (`lax.cond`) against separately compiled step variants.

    python benchmarks/lazy_dispatch.py --config stylegan2_fashion_mnist --cycles 3

A config whose lazy phases run every k_D and k_G steps repeats its pattern of due phases
every lcm(k_D, k_G) steps. Two ways to run that cycle:

* ``cond``: one compiled step; each lazy phase is a `jax.lax.cond` on ``step % k == 0``.
* ``variants``: one compiled step per pattern of due phases (at most 4), the host picking
  the right one from the step number; each program contains only the phases it runs.

Both are timed over whole cycles (warm-up cycle excluded, device synchronised) on a
device-resident batch, side by side in one process, and their compile times are reported.
The two programs differ in fusion and so in rounding: the largest relative difference of
the states after one cycle is reported beside the timings.
"""

import argparse
import itertools
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402
from train_step import apply_overrides, synthetic_batch  # noqa: E402

from gan_jax import parallel  # noqa: E402
from gan_jax.training import build


def due_pattern(run, step: int) -> dict[str, bool]:
    return {p.name: step % p.every == 0 for p in run.phases if p.every > 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="stylegan2_fashion_mnist")
    parser.add_argument("--batch_size", type=int, default=0, help="0: the config's")
    parser.add_argument("--cycles", type=int, default=3, help="timed cycles per form (median)")
    parser.add_argument("--override", action="append", default=[], help="section.field=value")
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    config = common.load_config(args.config)
    apply_overrides(config, args.override)
    if args.batch_size:
        config.batch_size = args.batch_size
    mesh = parallel.create_mesh()
    run = build.build(config, mesh)
    lazy = [p for p in run.phases if p.every > 1]
    if not lazy:
        raise SystemExit(f"{args.config} has no lazy phase: nothing to compare")
    cycle = math.lcm(*(p.every for p in lazy))
    batch, key = synthetic_batch(config, config.batch_size, mesh), run.keys["train"]

    forms = {}
    start = time.perf_counter()
    cond = run.train_step().lower(run.init_state(), batch, key).compile()
    forms["cond"] = (lambda step: cond, time.perf_counter() - start)
    start = time.perf_counter()
    variants = {}
    for pattern in itertools.product((False, True), repeat=len(lazy)):
        due = dict(zip((p.name for p in lazy), pattern))
        if any(due_pattern(run, s) == due for s in range(cycle)):
            variants[tuple(pattern)] = run.train_step(due).lower(run.init_state(), batch, key).compile()
    forms["variants"] = (
        lambda step: variants[tuple(due_pattern(run, step).values())],
        time.perf_counter() - start,
    )

    finals = {}
    for name, (pick, _) in forms.items():
        state = run.init_state()
        for step in range(cycle):
            state, _ = pick(step)(state, batch, key)
        finals[name] = jax.device_get(state)
    pairs = zip(*(jax.tree.leaves(f.g_params) + jax.tree.leaves(f.d_params) for f in finals.values()))
    diff = max(float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12)) for a, b in pairs)

    rows = []
    for name, (pick, compile_s) in forms.items():
        holder = {"state": run.init_state()}

        def one_cycle():
            s = holder["state"]
            for step in range(cycle):
                s, metrics = pick(step)(s, batch, key)
            holder["state"] = s
            return metrics

        seconds = common.median_time(one_cycle, jax.block_until_ready, warmup=1, runs=args.cycles)
        rows.append(
            {
                "form": name,
                "programs": 1 if name == "cond" else len(variants),
                "compile_s": round(compile_s, 1),
                "ms_per_step": round(1e3 * seconds / cycle, 1),
            }
        )
    base = rows[0]["ms_per_step"]
    for row in rows:
        row["speed_vs_cond"] = round(base / row["ms_per_step"], 3)
    print(
        f"{args.config}: batch {config.batch_size}, cycle of {cycle} steps "
        f"({', '.join(f'{p.name} every {p.every}' for p in lazy)}); largest relative difference of "
        f"the parameters after one cycle: {diff:.2e}"
    )
    common.print_table(rows, ["form", "programs", "compile_s", "ms_per_step", "speed_vs_cond"])
    if args.json:
        common.write_json(
            args.json,
            {
                "machine": common.machine(),
                "config": args.config,
                "batch_size": config.batch_size,
                "cycle": cycle,
                "max_relative_difference": diff,
                "rows": rows,
            },
        )


if __name__ == "__main__":
    main()
