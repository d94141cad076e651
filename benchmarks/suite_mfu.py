"""MFU for the GPU suite: FLOPs from XLA's cost analysis, the measured matmul peak, the ratio.

    python benchmarks/suite_mfu.py --plan OUT/plan.json --out OUT/peaks.json

As a script it measures the device's attainable matmul FLOP/s for each dtype of the plan
(an n×n×n matmul, 2n³ FLOPs, median of 10 runs, `common.measured_peak_flops`) and writes
them. MFU = (FLOPs per step / seconds per step) / peak of the step's dtype: the model's
FLOPs as XLA counts them in the compiled step (`step_flops`), against what this chip's
matmul units attain, not a data-sheet figure.
"""

import argparse

import jax.numpy as jnp

import common
import suite_plan
import train_step


def step_flops(program) -> float | None:
    """FLOPs XLA's cost analysis counts in a compiled (or lowered) program; None when it has
    no count."""
    return train_step.flops_of(program)


def mfu(flops_per_step: float, seconds_per_step: float, peak_flops_per_s: float) -> float:
    """Model FLOP utilisation: achieved FLOP/s over the peak FLOP/s."""
    return flops_per_step / seconds_per_step / peak_flops_per_s


def measure_peaks(dtypes, n: int) -> dict[str, float]:
    """{dtype: measured matmul FLOP/s} at n×n×n."""
    return {dt: common.measured_peak_flops(jnp.dtype(dt), n) for dt in dtypes}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    plan = suite_plan.load(args.plan)
    peaks = measure_peaks(plan["dtypes"], plan["matmul_n"])
    for dt, p in peaks.items():
        print(f"matmul peak {dt}: {p / 1e12:.3f} TFLOP/s (n={plan['matmul_n']})")
    common.write_json(
        args.out,
        {"matmul_n": plan["matmul_n"], "peak_tflops": {dt: p / 1e12 for dt, p in peaks.items()}},
    )


if __name__ == "__main__":
    main()
