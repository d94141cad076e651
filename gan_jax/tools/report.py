"""A run's training curves as one PNG.

    python -m gan_jax.tools.report --workdir W [--out FILE.png]      # default W/report.png

Panels, two to a row: D's and G's losses against the step; D's mean raw score on real
and on generated images (D(real), D(fake)), whose gap shows how far ahead D is; then one
panel per evaluation metric in ``eval.jsonl`` when there is one. Each panel is 500×350
pixels. Values come from ``metrics.jsonl`` (one JSON object per logged step) and the
``eval.jsonl`` lines training writes (``{"step": s, "results": {name: {"value": v}}}``);
lines without a step, such as those ``python -m gan_jax.tools.evaluate`` appends, are not curves.
"""

import json
import math
import os

from absl import flags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gan_jax.tools import cli
from gan_jax.errors import ConfigError

PANEL_INCHES, DPI = (5.0, 3.5), 100
Curves = dict[str, tuple[list[int], list[float]]]  # name -> (steps, values)


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "The run to report on.")
    flags.DEFINE_string("out", None, "PNG to write (default: WORKDIR/report.png).")


FLAGS = flags.FLAGS


def _records(path: str) -> list[dict]:
    """The JSON objects of a .jsonl file; a line cut short by a crash is skipped."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def _number(value) -> float | None:
    """A plotted value: numbers, and the strings metrics.jsonl writes for NaN and ±Inf."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _step(record: dict) -> int | None:
    """A record's step, or None when it is missing or not a whole number (a damaged line)."""
    step = _number(record.get("step"))
    return int(step) if step is not None and math.isfinite(step) and step == int(step) else None


def training_curves(workdir: str) -> Curves:
    """Every numeric field of ``metrics.jsonl`` as a curve over ``step``."""
    curves: Curves = {}
    for record in _records(os.path.join(workdir, "metrics.jsonl")):
        step = _step(record)
        for name, value in record.items():
            value = _number(value)
            if name != "step" and step is not None and value is not None:
                steps, values = curves.setdefault(name, ([], []))
                steps.append(step)
                values.append(value)
    return curves


def eval_curves(workdir: str) -> Curves:
    """Each metric of the training-time lines of ``eval.jsonl`` as a curve over ``step``."""
    curves: Curves = {}
    for record in _records(os.path.join(workdir, "eval.jsonl")):
        step = _step(record)
        if step is None or not isinstance(record.get("results"), dict):
            continue
        for name, result in record["results"].items():
            value = _number(result.get("value") if isinstance(result, dict) else None)
            if value is not None:
                steps, values = curves.setdefault(name, ([], []))
                steps.append(step)
                values.append(value)
    return curves


def panels(training: Curves, evals: Curves) -> list[tuple[str, Curves]]:
    """(title, curves) for each panel, in order."""
    out = [
        ("losses", {k: training[k] for k in ("d_loss", "g_loss") if k in training}),
        ("mean D score (logit)", {k: training[k] for k in ("d_real", "d_fake") if k in training}),
    ]
    return out + [(f"eval: {name}", {name: curve}) for name, curve in sorted(evals.items())]


def draw(panel_list: list[tuple[str, Curves]], path: str, title: str = "") -> tuple[int, int]:
    """Writes the panels, two to a row, as a PNG; returns its (width, height) in pixels."""
    cols = 2
    rows = math.ceil(len(panel_list) / cols)
    fig = Figure(figsize=(PANEL_INCHES[0] * cols, PANEL_INCHES[1] * rows), dpi=DPI)
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(title, fontsize=10)
    for i, (name, curves) in enumerate(panel_list):
        ax = fig.add_subplot(rows, cols, i + 1)
        for label, (steps, values) in curves.items():
            ax.plot(steps, values, label=label, marker="o" if len(steps) < 20 else None, markersize=3)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return int(fig.get_figwidth() * DPI), int(fig.get_figheight() * DPI)


def write_report(workdir: str, out: str | None = None) -> str:
    """Draws ``workdir``'s curves into ``out`` (default ``workdir/report.png``); returns the path."""
    if not os.path.isdir(workdir):
        raise ConfigError(f"workdir {workdir!r} does not exist")
    training = training_curves(workdir)
    if not training:
        raise ConfigError(
            f"{workdir} has no metrics in metrics.jsonl; train first (they are written every log_every steps)"
        )
    out = cli.output_path(out or os.path.join(workdir, "report.png"))
    if not out.lower().endswith((".png", ".pdf", ".svg")):
        raise ConfigError(f"--out={out!r}: the report is written as .png, .pdf or .svg")
    try:
        draw(panels(training, eval_curves(workdir)), out, title=os.path.abspath(workdir))
    except OSError as e:
        raise ConfigError(f"cannot write {out}: {e.strerror or e}") from None
    return out


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    if not FLAGS.workdir:
        cli.fail("--workdir is required")
    print(f"wrote {write_report(FLAGS.workdir, FLAGS.out)}")


def console_main() -> None:
    """The ``gan-jax-report`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
