"""One config's train step from two checkouts of gan_jax, timed in alternation: did a change
of the code (not of the config) change the speed?

    git worktree add /tmp/before <commit>
    python benchmarks/step_ab_trees.py --a_tree /tmp/before --configs dcgan_cifar10,stylegan2_fashion_mnist

Two versions of one package cannot share a process, so each tree gets a worker process
(its own ``gan_jax`` and ``benchmarks/`` on the path) that builds and compiles the step as
`benchmarks/profile_step.compiled_step` does, then waits. The parent times them in
rounds as `step_ab.py` does: each round asks A for ``--steps`` steps, then B (one runs
while the other waits, so they never share the cores), and reports the median over the
rounds of the per-round ratio t_A / t_B with its interquartile range. B is the checkout
this script is in unless ``--b_tree`` names another.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(config: str, batch_size: int) -> None:
    """Compiles the step, then answers each line 'N' on stdin with the seconds N steps take."""
    import jax
    from profile_step import compiled_step

    compiled, state, batch, key = compiled_step(config, batch_size, [])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        steps = int(line)
        start = time.perf_counter()
        for _ in range(steps):
            state, metrics = compiled(state, batch, key)
        jax.block_until_ready(metrics)
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


class Tree:
    """A worker process running one checkout's step."""

    def __init__(self, root: str, config: str, batch_size: int):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(root, "benchmarks"), root])}
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--configs", config]
        cmd += ["--batch_sizes", str(batch_size)]
        self.proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"the worker stopped (exit status {self.proc.wait()})")

    def time(self, steps: int) -> float:
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def compare(a_tree: str, b_tree: str, config: str, batch_size: int, rounds: int, steps: int) -> dict:
    from step_ab import quartiles

    trees = [Tree(a_tree, config, batch_size), Tree(b_tree, config, batch_size)]
    try:
        for _ in range(3):  # warm-up
            for t in trees:
                t.time(steps)
        times = [[], []]
        for _ in range(rounds):
            for i, t in enumerate(trees):
                times[i].append(t.time(steps) / steps)
    finally:
        for t in trees:
            t.close()
    low, ratio, high = quartiles([a / b for a, b in zip(*times)])
    return {
        "config": config,
        "batch": batch_size,
        "a_tree": a_tree,
        "b_tree": b_tree,
        "rounds": rounds,
        "steps_per_round": steps,
        "a_ms_per_step": 1000 * sorted(times[0])[len(times[0]) // 2],
        "b_ms_per_step": 1000 * sorted(times[1])[len(times[1]) // 2],
        "speedup_b_over_a": ratio,
        "speedup_iqr": [low, high],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a_tree", help="the other checkout (A)")
    parser.add_argument("--b_tree", default=os.path.dirname(HERE), help="default: this checkout")
    parser.add_argument("--configs", default="dcgan_cifar10,stylegan2_fashion_mnist")
    parser.add_argument("--batch_sizes", default="64")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=2, help="steps per tree per round")
    parser.add_argument("--out", default="")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.configs, int(args.batch_sizes))
    if not args.a_tree:
        parser.error("--a_tree is required")
    import common

    rows = []
    for config in args.configs.split(","):
        for batch_size in map(int, args.batch_sizes.split(",")):
            row = compare(args.a_tree, args.b_tree, config, batch_size, args.rounds, args.steps)
            rows.append(row)
            print(
                f"{config:24s} batch {batch_size:4d}: A {row['a_ms_per_step']:8.1f} ms, "
                f"B {row['b_ms_per_step']:8.1f} ms, B/A speed-up {row['speedup_b_over_a']:.3f} "
                f"(IQR {row['speedup_iqr'][0]:.3f}-{row['speedup_iqr'][1]:.3f}, {args.rounds} rounds)",
                flush=True,
            )
    if args.out:
        common.write_json(args.out, {"machine": common.machine(), "results": rows})


if __name__ == "__main__":
    main()
