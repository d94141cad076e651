"""Two variants of a config's train step timed in alternation: the speed-up of B over A.

    python benchmarks/step_ab.py --configs dcgan_cifar10,dcgan_celeba64 --batch_sizes 64,128 \
        --a ops.conv_weight_grad=conv --b ops.conv_weight_grad=auto

On a shared or throttled machine the speed of the host drifts by more than the difference
being measured, so two variants timed one after the other (`train_step.py --variants`)
can disagree from run to run. Here both compiled steps live in one process and are timed
in rounds: each round runs A then B (``--steps`` steps each, device synchronised), and
the figure reported is the median over the rounds of the per-round ratio t_A / t_B, with
its interquartile range; a drift slower than a round cancels in the ratio. ``--a`` and
``--b`` are comma-separated ``section.field=value`` overrides ('' for the config as it is).
Each variant is the config's compiled step as `benchmarks/profile_step.py` builds it (with
lazy phases, the program that decides them inside the step).
"""

import argparse
import statistics
import time

import jax

import common
from profile_step import compiled_step


def timer(compiled, state, batch, key, steps: int):
    holder = {"state": state}

    def run() -> float:
        s = holder["state"]
        start = time.perf_counter()
        for _ in range(steps):
            s, metrics = compiled(s, batch, key)
        jax.block_until_ready(metrics)
        holder["state"] = s
        return time.perf_counter() - start

    return run


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def compare(name: str, batch_size: int, a: list[str], b: list[str], rounds: int, steps: int) -> dict:
    timers = [timer(*compiled_step(name, batch_size, overrides), steps) for overrides in (a, b)]
    for _ in range(3):  # warm-up
        for t in timers:
            t()
    times_a, times_b = [], []
    for _ in range(rounds):
        times_a.append(timers[0]() / steps)
        times_b.append(timers[1]() / steps)
    ratios = [ta / tb for ta, tb in zip(times_a, times_b)]
    low, ratio, high = quartiles(ratios)
    return {
        "config": name,
        "batch": batch_size,
        "a": ",".join(a),
        "b": ",".join(b),
        "rounds": rounds,
        "steps_per_round": steps,
        "a_images_per_s": batch_size / statistics.median(times_a),
        "b_images_per_s": batch_size / statistics.median(times_b),
        "speedup_b_over_a": ratio,
        "speedup_iqr": [low, high],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="dcgan_cifar10,dcgan_celeba64")
    parser.add_argument("--batch_sizes", default="64,128")
    parser.add_argument("--a", default="", help="overrides of variant A, e.g. ops.conv_weight_grad=conv")
    parser.add_argument("--b", default="", help="overrides of variant B")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=2, help="steps per variant per round")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    a = [o for o in args.a.split(",") if o]
    b = [o for o in args.b.split(",") if o]
    info = common.machine()
    print(f"{info['device']} x{info['device_count']} ({info['backend']}), jax {info['jax']}")
    print(f"A: {args.a or '(config as is)'}   B: {args.b or '(config as is)'}")
    rows = []
    for name in args.configs.split(","):
        for batch_size in map(int, args.batch_sizes.split(",")):
            rows.append(compare(name, batch_size, a, b, args.rounds, args.steps))
            row = rows[-1]
            print(
                f"{name:16s} batch {batch_size:4d}: A {row['a_images_per_s']:8.1f} img/s, "
                f"B {row['b_images_per_s']:8.1f} img/s, B/A speed-up {row['speedup_b_over_a']:.3f} "
                f"(IQR {row['speedup_iqr'][0]:.3f}-{row['speedup_iqr'][1]:.3f}, {args.rounds} rounds)"
            )
    if args.out:
        common.write_json(args.out, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
