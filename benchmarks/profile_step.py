"""Where a train step's time goes: a `jax.profiler` trace of the compiled step, per HLO op.

    python benchmarks/profile_step.py --config dcgan_cifar10 --batch_size 128 [--logdir DIR]

Runs the config's compiled train step (as `benchmarks/train_step.py` builds it, on
device-resident synthetic batches) ``--steps`` times under ``jax.profiler.trace``, reads
the trace back (``jax.profiler.ProfileData``) and charges every executed XLA op to what
it computes, read from the compiled program's HLO: a convolution is a *forward*, an
*input gradient* (``lhs_dilate``: the transposed convolution of a strided one, or
the forward of an input-dilated layer) or a *weight gradient* (``rhs_dilate``), with
the layer it belongs to (the op's ``op_name`` metadata: ``jvp(Discriminator)/Conv_1``,
``transpose(...)`` for the backward pass). Elementwise and reduction fusions, copies and
transposes, dots and the rest are grouped by kind.

Times are per step: the sum of the op's durations on every executor thread (CPU ops run
on a thread pool, so kinds overlap and the column sums to more than the wall time),
next to the wall time of the step. The trace stays in ``--logdir`` for TensorBoard's
profile plugin or Perfetto.
"""

import argparse
import collections
import glob
import os
import re
import tempfile
import time

import jax

import common
import train_step as step_bench
from gan_jax import parallel
from gan_jax.training import build

_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (\S+) (\w[\w\-]*)\(")
_COMPUTATION = re.compile(r"^(?:ENTRY )?%([\w.\-]+) ")


def parse_hlo(text: str) -> tuple[dict, dict]:
    """(instructions, roots): every instruction's name → its HLO line, and every
    computation's name → the line of its ROOT instruction."""
    instructions, roots, current = {}, {}, None
    for line in text.splitlines():
        if not line.startswith(" ") and line.rstrip().endswith("{"):
            match = _COMPUTATION.match(line)
            current = match.group(1) if match else None
            continue
        match = _INSTRUCTION.match(line)
        if match:
            instructions[match.group(1)] = line
            if line.lstrip().startswith("ROOT ") and current:
                roots[current] = line
    return instructions, roots


def _op_name(line: str) -> str:
    match = re.search(r'op_name="([^"]+)"', line)
    if not match:
        return ""
    name = match.group(1)
    name = re.sub(r"^jit\([^)]*\)/", "", name)
    return name


def describe(name: str, instructions: dict, roots: dict) -> tuple[str, str]:
    """(kind, detail) of the executed op ``name``: a fusion is described by the op at its
    root (a convolution or dot inside a fusion is charged as that convolution or dot)."""
    line = instructions.get(name)
    if line is None:
        return "runtime", name
    opcode = _INSTRUCTION.match(line).group(3)
    library = "Eigen"
    if opcode == "fusion":
        called = re.search(r"calls=%([\w.\-]+)", line)
        root = roots.get(called.group(1)) if called else None
        if root is not None and _INSTRUCTION.match(root).group(3) in ("convolution", "dot"):
            library = "YNNPACK" if "ynn" in name else "fused"
            line, opcode = root, _INSTRUCTION.match(root).group(3)
        else:
            kind = re.search(r"kind=(\w+)", line)
            return f"fusion ({kind.group(1) if kind else '?'})", _op_name(line)
    shape = _INSTRUCTION.match(line).group(2)
    if opcode == "convolution":
        window = re.search(r"window=\{([^}]*)\}", line).group(1)
        if "rhs_dilate" in window:
            role = "weight gradient"
        elif "lhs_dilate" in window:
            role = "input-dilated (input gradient / transposed conv)"
        else:
            role = "forward (strided or stride 1)"
        return f"convolution: {role}", f"{library}: {_op_name(line)} -> {shape} [{window}]"
    if opcode == "dot":
        return "dot", f"{library}: {_op_name(line)} -> {shape}"
    if opcode in ("copy", "transpose"):
        return "copy / transpose", f"{_op_name(line)} -> {shape}"
    return opcode, _op_name(line)


def op_times(trace_dir: str) -> tuple[dict, float]:
    """(op name → summed duration in seconds over the executor threads, wall seconds of the
    traced executions)."""
    path = sorted(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True))[-1]
    profile = jax.profiler.ProfileData.from_file(path)
    totals = collections.Counter()
    starts, ends = [], []
    for plane in profile.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                if event.name == "ThunkExecutor::Execute":
                    starts.append(event.start_ns)
                    ends.append(event.start_ns + event.duration_ns)
                elif not event.name.startswith(("Threadpool", "ThunkExecutor")):
                    totals[event.name] += event.duration_ns * 1e-9
    wall = (max(ends) - min(starts)) * 1e-9 if starts else 0.0
    return dict(totals), wall


def compiled_step(config_name: str, batch_size: int, overrides: list[str]):
    """(compiled train step, state, batch, key) of a config, as `benchmarks/train_step.py`
    builds it, on device-resident synthetic batches."""
    config = common.load_config(config_name)
    step_bench.apply_overrides(config, overrides)
    config.batch_size = batch_size
    mesh = parallel.create_mesh()
    run_ = build.build(config, mesh)
    state = run_.init_state()
    batch = step_bench.synthetic_batch(config, batch_size, mesh)
    key = run_.keys["train"]
    return run_.train_step(None).lower(state, batch, key).compile(), state, batch, key


def profile(config_name: str, batch_size: int, steps: int, overrides: list[str], logdir: str) -> dict:
    compiled, state, batch, key = compiled_step(config_name, batch_size, overrides)
    for _ in range(3):  # warm-up
        state, metrics = compiled(state, batch, key)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    with jax.profiler.trace(logdir):
        for _ in range(steps):
            state, metrics = compiled(state, batch, key)
        jax.block_until_ready(metrics)
    traced_s = time.perf_counter() - start
    totals, wall = op_times(logdir)
    instructions, roots = parse_hlo(compiled.as_text())
    ops = collections.defaultdict(float)
    kinds = collections.defaultdict(float)
    for name, seconds in totals.items():
        kind, detail = describe(name, instructions, roots)
        kinds[kind] += seconds / steps
        ops[(kind, detail)] += seconds / steps
    return {
        "config": config_name,
        "batch": batch_size,
        "overrides": overrides,
        "steps": steps,
        "wall_ms_per_step": 1e3 * wall / steps,
        "traced_ms_per_step": 1e3 * traced_s / steps,
        "thread_ms_per_step": 1e3 * sum(kinds.values()),
        "kinds_ms": {k: 1e3 * v for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
        "ops_ms": [
            {"kind": k, "op": d, "ms": 1e3 * v} for (k, d), v in sorted(ops.items(), key=lambda kv: -kv[1])
        ],
    }


def report(result: dict, top: int) -> None:
    print(
        f"\n{result['config']} batch {result['batch']} {' '.join(result['overrides'])}: "
        f"{result['wall_ms_per_step']:.1f} ms/step wall in the trace "
        f"({result['traced_ms_per_step']:.1f} with tracing overhead), "
        f"{result['thread_ms_per_step']:.1f} ms/step of op time over the threads"
    )
    for kind, ms in result["kinds_ms"].items():
        print(f"  {ms:8.2f} ms  {100 * ms / result['thread_ms_per_step']:5.1f}%  {kind}")
    print(f"  top {top} ops:")
    for op in result["ops_ms"][:top]:
        print(f"  {op['ms']:8.2f} ms  {op['kind']:<52} {op['op']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dcgan_cifar10")
    parser.add_argument("--batch_sizes", default="128")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--overrides", default="", help="comma-separated section.field=value")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--logdir", default="", help="where the trace is kept (a temporary folder if unset)")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    overrides = [o for o in args.overrides.split(",") if o]
    info = common.machine()
    print(f"{info['device']} ({info['backend']}), jax {info['jax']}")
    results = []
    for batch_size in map(int, args.batch_sizes.split(",")):
        logdir = args.logdir or tempfile.mkdtemp(prefix="gan_jax_trace_")
        logdir = os.path.join(logdir, f"{args.config}_b{batch_size}")
        results.append(profile(args.config, batch_size, args.steps, overrides, logdir))
        report(results[-1], args.top)
        print(f"  trace: {logdir}")
    if args.out:
        common.write_json(args.out, {"machine": info, "results": results})


if __name__ == "__main__":
    main()
