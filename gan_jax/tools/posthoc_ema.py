"""Rebuild a run's generator for any EMA length after training (EDM2's post-hoc EMA).

    python -m gan_jax.tools.posthoc_ema --workdir W --sigma_rel 0.07 --out g.safetensors
    python -m gan_jax.tools.posthoc_ema --workdir W --sweep 0.02:0.25:12 \
        [--metric fd_fmnist] [--num_samples 10000] [--split test] \
        [--out best.safetensors] [--plot sweep.png] [--json sweep.json]

The run must have trained with ``--config.ema.posthoc.enabled=True``: its snapshots in
``W/posthoc_ema/`` are combined by least squares into the power-function average of
width σ_rel at ``--step`` (default: the last snapshot), as `gan_jax.training.posthoc_ema`
derives. ``--sigma_rel`` writes that generator; ``--sweep`` (a comma list, or
``lo:hi:n``: n widths evenly spaced) scores each width with ``--metric`` (any metric
evaluate knows, on the run's eval settings unless overridden), prints the table, and
writes the best. ``--out`` is an exported generator (`gan_jax.load_generator`,
``generate``-compatible pixels). The run itself is only read.
"""

import json
import math
import os

import jax
import numpy as np
from absl import flags

from gan_jax.errors import ConfigError
from gan_jax.run import evaluation, exported, posthoc_snapshots, writers
from gan_jax.run import loading
from gan_jax.tools import cli
from gan_jax import parallel
from gan_jax.training import posthoc_ema

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "The run (trained with ema.posthoc.enabled).")
    flags.DEFINE_float("sigma_rel", None, "One EMA width to rebuild (EDM2's sigma_rel, e.g. 0.07).")
    flags.DEFINE_string("sweep", None, "Widths to score: a comma list, or lo:hi:n (n evenly spaced).")
    flags.DEFINE_integer("step", None, "The step to rebuild at (default: the last snapshot).")
    flags.DEFINE_string(
        "metric", "fd_fmnist", "The metric of --sweep (lower is better unless it is is/acc/pr)."
    )
    flags.DEFINE_integer("num_samples", None, "Samples per score (default: the run's eval.num_samples).")
    flags.DEFINE_string("split", None, "Reference split (default: the run's eval.split).")
    flags.DEFINE_string("out", None, "The generator to write (.safetensors).")
    flags.DEFINE_string("plot", None, "--sweep: the metric against sigma_rel, as .png.")
    flags.DEFINE_string("json", None, "--sweep: every width's result, as .json.")


def parse_sweep(text: str) -> list[float]:
    """``0.05,0.1`` or ``lo:hi:n`` → widths, each checked."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            values = list(np.linspace(float(lo), float(hi), int(n)))
        else:
            values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(
            f"--sweep={text!r}: give widths like 0.05,0.1 or lo:hi:n like 0.02:0.25:12"
        ) from None
    return [check_sigma(v, "--sweep") for v in values]


def check_sigma(sigma: float, name: str = "--sigma_rel") -> float:
    if not (math.isfinite(sigma) and 0 < sigma < posthoc_ema.SIGMA_MAX):
        raise ConfigError(f"{name}: sigma_rel={sigma:g} must be in (0, {posthoc_ema.SIGMA_MAX:.4f})")
    return float(sigma)


def rebuild(snapshots: list, target_step: int, sigma: float) -> dict:
    """The parameters of the average of width ``sigma`` at ``target_step``."""
    steps, sigmas, trees = zip(*snapshots)
    weights = posthoc_ema.coefficients(steps, sigmas, target_step, sigma)
    return posthoc_ema.combine(list(trees), weights)


def _write(path: str, gen, g_vars, params, step: int) -> None:
    stats = gen.sampler().stats(params, g_vars)
    try:
        with open(cli.output_path(path) + ".tmp", "wb") as f:
            f.write(exported.encode(gen.config, step, {"params": params, **stats}))
        os.replace(path + ".tmp", path)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None


def _check_outputs() -> None:
    if FLAGS.out and not FLAGS.out.endswith(".safetensors"):
        raise ConfigError(f"--out={FLAGS.out!r}: the generator is written as .safetensors")
    if FLAGS.plot and not FLAGS.plot.endswith(".png"):
        raise ConfigError(f"--plot={FLAGS.plot!r}: the plot is written as .png")
    if (FLAGS.sigma_rel is None) == (FLAGS.sweep is None):
        raise ConfigError("give either --sigma_rel or --sweep")
    if FLAGS.sigma_rel is not None and not FLAGS.out:
        raise ConfigError("--sigma_rel needs --out, the .safetensors to write")


def sweep(gen, g_vars, snapshots, target_step: int, sigmas: list[float]) -> list[dict]:
    """Each width's score: ``{"sigma_rel", "value", "protocol"}``."""
    evaluate = evaluation.make_evaluation(gen.config, gen, [FLAGS.metric], FLAGS.num_samples, FLAGS.split)
    replicated = parallel.replicated(gen.mesh)
    rows = []
    for sigma in sigmas:
        params = jax.device_put(rebuild(snapshots, target_step, sigma), replicated)
        result = evaluate(params, g_vars)[FLAGS.metric]
        rows.append({"sigma_rel": sigma, "value": float(result["value"]), "protocol": result["protocol"]})
        writers.log(f"sigma_rel {sigma:.4f}: {FLAGS.metric} {result['value']:.4f}")
    return rows


def main(argv) -> None:
    writers.quiet_library_logs()
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    if not FLAGS.workdir:
        cli.fail("--workdir is required")
    _check_outputs()
    sigmas = [check_sigma(FLAGS.sigma_rel)] if FLAGS.sigma_rel is not None else parse_sweep(FLAGS.sweep)
    snapshots = posthoc_snapshots.read(FLAGS.workdir, FLAGS.step)
    if not snapshots:
        raise ConfigError(f"{FLAGS.workdir} has no post-hoc EMA snapshot at or before step {FLAGS.step}")
    target_step = FLAGS.step or max(s for s, _, _ in snapshots)
    gen, state, _ = loading.restore_generator(FLAGS.workdir)
    if FLAGS.sigma_rel is not None:
        _write(FLAGS.out, gen, state.g_vars, rebuild(snapshots, target_step, sigmas[0]), target_step)
        print(f"wrote {FLAGS.out} (sigma_rel {sigmas[0]:g} at step {target_step})")
        return
    rows = sweep(gen, state.g_vars, snapshots, target_step, sigmas)
    higher = FLAGS.metric.split("_")[0] in ("is", "acc", "pr", "dc")
    best = (max if higher else min)(rows, key=lambda r: r["value"])
    print("\n".join(f"{r['sigma_rel']:.4f}  {r['value']:.4f}" for r in rows))
    print(f"best: sigma_rel {best['sigma_rel']:.4f}, {FLAGS.metric} {best['value']:.4f} ({best['protocol']})")
    _report(rows, best, target_step)
    if FLAGS.out:
        _write(FLAGS.out, gen, state.g_vars, rebuild(snapshots, target_step, best["sigma_rel"]), target_step)
        print(f"wrote {FLAGS.out}")


def _report(rows: list[dict], best: dict, step: int) -> None:
    if FLAGS.json:
        with open(cli.output_path(FLAGS.json), "w") as f:
            json.dump({"workdir": os.path.abspath(FLAGS.workdir), "step": step, "metric": FLAGS.metric,
                       "rows": rows, "best": best}, f, indent=1)  # fmt: skip
    if FLAGS.plot:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(5, 3.5), dpi=100)
        axes = figure.add_subplot()
        axes.plot([r["sigma_rel"] for r in rows], [r["value"] for r in rows], "o-")
        axes.axvline(best["sigma_rel"], color="grey", linestyle=":")
        axes.set_xlabel("sigma_rel (post-hoc EMA width)")
        axes.set_ylabel(FLAGS.metric)
        axes.set_title(f"{os.path.basename(os.path.abspath(FLAGS.workdir))}, step {step}")
        figure.tight_layout()
        FigureCanvasAgg(figure).print_png(cli.output_path(FLAGS.plot))


def console_main() -> None:
    """The ``gan-jax-posthoc-ema`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
