"""Which XLA:CPU library is faster for each convolution of a train step, at its real shapes.

    python benchmarks/conv_library.py --config dcgan_celeba64 --batch_sizes 128 [--out F]

XLA:CPU hands each convolution to YNNPACK when YNNPACK supports it (strided forwards and
weight gradients, in practice) and to Eigen otherwise (input-dilated convolutions). The
choice is a compiler option of the whole program (``xla_cpu_experimental_ynn_fusion_type``;
empty sends everything to Eigen), not of one operation. This benchmark compiles the
config's train step as `benchmarks/train_step.py` builds it, reads every convolution out
of the compiled HLO (operand shapes, window, dimension labels, group counts), and times
each one alone, compiled twice: with XLA's default choice and with YNNPACK off. It prints
both times per convolution, how many times the step runs it, and three totals per step:
XLA's default, everything in Eigen, and the faster of the two for each convolution, the
bound a per-operation choice could reach.

Each convolution is timed as its own program (median of ``--runs`` timed calls after a
warm-up); inside the step XLA may fuse a neighbouring op into it, so the totals are a
guide to where a per-operation choice matters, not the step time.
"""

import argparse
import collections
import re
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import common
import profile_step

NO_YNN = {"xla_cpu_experimental_ynn_fusion_type": ""}
_DEF = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = f32\[([\d,]*)\]")
_CONV = re.compile(r"convolution\(%([\w.\-]+), %([\w.\-]+)\), (.*)$")
_LHS = {"b": "N", "f": "C", "0": "H", "1": "W"}
_RHS = {"o": "O", "i": "I", "0": "H", "1": "W"}


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split(",") if d)


def parse_convolutions(hlo: str) -> collections.Counter:
    """Every 2-D f32 convolution in an HLO module's text → how many times it appears. A
    convolution is (out shape, lhs shape, rhs shape, window text, dim labels, feature
    groups, batch groups)."""
    shapes = {}
    for line in hlo.splitlines():
        match = _DEF.match(line)
        if match:
            shapes[match.group(1)] = _shape(match.group(2))
    found = collections.Counter()
    for line in hlo.splitlines():
        match, definition = _CONV.search(line), _DEF.match(line)
        if not match or not definition:
            continue
        lhs, rhs, rest = shapes[match.group(1)], shapes[match.group(2)], match.group(3)
        out = definition.group(2)
        window = re.search(r"window=\{([^}]*)\}", rest).group(1)
        labels = re.search(r"dim_labels=(\w+)_(\w+)->(\w+)", rest).groups()
        groups = re.search(r"feature_group_count=(\d+)", rest)
        batch_groups = re.search(r"batch_group_count=(\d+)", rest)
        found[
            (
                _shape(out),
                lhs,
                rhs,
                window,
                labels,
                int(groups.group(1)) if groups else 1,
                int(batch_groups.group(1)) if batch_groups else 1,
            )
        ] += 1
    return found


def _window(window: str, key: str, default: list) -> list:
    match = re.search(rf"\b{key}=([\d_x]+)", window)
    if not match:
        return default
    if key == "pad":
        return [tuple(int(p) for p in part.split("_")) for part in match.group(1).split("x")]
    return [int(p) for p in match.group(1).split("x")]


def conv_fn(conv):
    """A jax function of (lhs, rhs) that is the HLO convolution ``conv``."""
    out, lhs, rhs, window, labels, groups, batch_groups = conv
    if "rev=" in window:
        raise ValueError("window reversal is not expressible with lax.conv_general_dilated")
    specs = (
        "".join(_LHS[c] for c in labels[0]),
        "".join(_RHS[c] for c in labels[1]),
        "".join(_LHS[c] for c in labels[2]),
    )

    def f(a, b):
        return jax.lax.conv_general_dilated(
            a,
            b,
            window_strides=_window(window, "stride", [1, 1]),
            padding=_window(window, "pad", [(0, 0), (0, 0)]),
            lhs_dilation=_window(window, "lhs_dilate", [1, 1]),
            rhs_dilation=_window(window, "rhs_dilate", [1, 1]),
            dimension_numbers=specs,
            feature_group_count=groups,
            batch_group_count=batch_groups,
        )

    return f


def role(conv) -> str:
    window = conv[3]
    if "rhs_dilate" in window:
        return "weight gradient"
    if "lhs_dilate" in window:
        return "input-dilated"
    return "forward"


def time_conv(conv, options: dict | None, runs: int) -> tuple[float, str]:
    """(median seconds per call, library) of ``conv`` compiled with ``options``."""
    _, lhs, rhs = conv[:3]
    a = jnp.asarray(np.random.default_rng(0).standard_normal(lhs, np.float32))
    b = jnp.asarray(np.random.default_rng(1).standard_normal(rhs, np.float32))
    jitted = jax.jit(conv_fn(conv), compiler_options=options) if options else jax.jit(conv_fn(conv))
    compiled = jitted.lower(a, b).compile()
    out = compiled(a, b)
    if out.shape != conv[0]:
        raise AssertionError(f"rebuilt convolution has shape {out.shape}, the HLO's {conv[0]}")
    out.block_until_ready()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        compiled(a, b).block_until_ready()
        times.append(time.perf_counter() - start)
    library = "YNNPACK" if "__ynn_fusion" in compiled.as_text() else "Eigen"
    return statistics.median(times), library


def step_convolutions(config_name: str, batch_size: int, overrides: list[str]) -> collections.Counter:
    compiled = profile_step.compiled_step(config_name, batch_size, overrides)[0]
    return parse_convolutions(compiled.as_text())


def measure(config_name: str, batch_size: int, overrides: list[str], runs: int) -> dict:
    rows = []
    for conv, count in sorted(step_convolutions(config_name, batch_size, overrides).items(), key=str):
        default_s, default_lib = time_conv(conv, None, runs)
        eigen_s, _ = time_conv(conv, NO_YNN, runs)
        rows.append(
            {
                "role": role(conv),
                "lhs": list(conv[1]),
                "rhs": list(conv[2]),
                "out": list(conv[0]),
                "window": conv[3],
                "count": count,
                "default_library": default_lib,
                "default_ms": 1e3 * default_s,
                "eigen_ms": 1e3 * eigen_s,
            }
        )
    totals = {
        "default_ms": sum(r["count"] * r["default_ms"] for r in rows),
        "eigen_ms": sum(r["count"] * r["eigen_ms"] for r in rows),
        "best_per_op_ms": sum(r["count"] * min(r["default_ms"], r["eigen_ms"]) for r in rows),
    }
    return {
        "config": config_name,
        "batch": batch_size,
        "overrides": overrides,
        "rows": rows,
        "totals": totals,
    }


def report(result: dict) -> None:
    print(f"\n{result['config']} batch {result['batch']} {' '.join(result['overrides'])}")
    print(f"  {'role':<16}{'lhs':>20}{'rhs':>20}{'×':>3}{'default':>18}{'Eigen':>10}  window")
    for r in result["rows"]:
        default = f"{r['default_ms']:.2f} {r['default_library']}"
        print(
            f"  {r['role']:<16}{str(tuple(r['lhs'])):>20}{str(tuple(r['rhs'])):>20}{r['count']:>3}"
            f"{default:>18}{r['eigen_ms']:>10.2f}  {r['window']}"
        )
    t = result["totals"]
    print(
        f"  per step: default {t['default_ms']:.1f} ms, all Eigen {t['eigen_ms']:.1f} ms, "
        f"faster of the two per convolution {t['best_per_op_ms']:.1f} ms"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dcgan_celeba64")
    parser.add_argument("--batch_sizes", default="128")
    parser.add_argument("--overrides", default="", help="comma-separated section.field=value")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    overrides = [o for o in args.overrides.split(",") if o]
    info = common.machine()
    print(f"{info['device']} ({info['backend']}), jax {info['jax']}")
    results = []
    for batch_size in map(int, args.batch_sizes.split(",")):
        results.append(measure(args.config, batch_size, overrides, args.runs))
        report(results[-1])
    if args.out:
        common.write_json(args.out, {"machine": info, "results": results})


if __name__ == "__main__":
    main()
