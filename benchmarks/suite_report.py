"""Gathers a GPU-suite run's results into one JSON and one markdown report.

    python benchmarks/suite_report.py --out OUT

Reads what the checks wrote under ``OUT`` (plan.json, machine.json, peaks.json,
jax_steps.jsonl, torch_eager.jsonl, torch_compile.jsonl, pipeline.json, fid_inception.json,
reference_*.jsonl, status.jsonl: one line per check from `benchmarks/gpu_suite.sh`) and writes
``OUT/gpu_suite.json`` and ``OUT/gpu_suite.md``: the machine, the measured matmul peaks, one
row per (dtype, model) with gan_jax's and PyTorch's images/s, the ratios and the MFU, a
table of the reference models' s/kimg beside NVlabs' and brownvc's own code, the
input pipeline against the step, the Inception comparison, each goal met or not, and every
check's status with the reason when it was skipped, failed or ran out of time. A dry run is
labelled as such at the top of both. Only Python's standard library is used.
"""

import argparse
import json
import os

GOALS = {"ratio_vs_eager": 1.5, "ratio_vs_compile": 1.0, "mfu": 0.40, "pipeline_ratio": 5.0}
GOAL_MFU_MODEL = "BigGAN-128"
PEER_CHECK = {
    True: "the PyTorch peer's counts checked equal",
    False: "no PyTorch peer was built (see the notes and checks)",
}
NOTE_CHARS = 160  # longer cells (error messages) are cut in the markdown; the JSON keeps them whole
DRY_RUN_BANNER = (
    "DRY RUN: every check at tiny sizes (batch 4, narrow networks, one-step timings) on a "
    "shared CPU, to show the suite runs end to end. These are NOT performance figures."
)
PRECISION = {
    "float32": "gan_jax: JAX's default precision (TF32 tensor-core math on NVIDIA GPUs); "
    "PyTorch: TF32 allowed for matmuls and cuDNN convolutions",
    "bfloat16": "gan_jax: model.dtype='bfloat16' (float32 parameters, statistics, spectral norm "
    "and losses; bfloat16 convolutions and matmuls); PyTorch: the forward passes under "
    "torch.autocast(dtype=torch.bfloat16) (float32 parameters; bfloat16 convolutions and matmuls)",
}


def read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_lines(path: str) -> list[dict]:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def fmt(value, kind: str = "") -> str:
    """A table cell: 3 significant digits below 1000, thousands separators above, '—' for
    None; ``kind`` 'ratio' appends ×, 'pct' shows a fraction as a percentage."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "pct" and isinstance(value, (int, float)):
        return f"{100 * value:.1f}%"
    if kind == "ratio" and isinstance(value, (int, float)):
        return fmt(float(value)) + "×"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def markdown_table(rows: list[dict], columns: list[tuple]) -> str:
    """A markdown table of ``rows``; ``columns`` are (key, header) or (key, header, kind) with
    kind as in `fmt`; numeric columns right-aligned."""
    columns = [(c[0], c[1], c[2] if len(c) > 2 else "") for c in columns]
    lines = [
        "| " + " | ".join(header for _, header, _ in columns) + " |",
        "| "
        + " | ".join("---:" if any(_numeric(r.get(k)) for r in rows) else "---" for k, _, _ in columns)
        + " |",
    ]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(key), kind) for key, _, kind in columns) + " |")
    return "\n".join(lines)


def step_rows(plan: dict, ours: list[dict], eager: list[dict], compiled: list[dict]) -> list[dict]:
    """One row per (dtype, model) of the plan, joining both frameworks' measurements."""

    def find(rows, model, dtype):
        return next((r for r in rows if r.get("model") == model and r.get("dtype") == dtype), None)

    rows = []
    for dtype in plan["dtypes"]:
        for m in plan["models"]:
            name = m["name"]
            row = {"model": name, "dtype": dtype, "batch": m["batch"], "n_critic": m["n_critic"]}
            notes = []
            jax_row = find(ours, name, dtype)
            if jax_row and "error" not in jax_row:
                row.update(
                    gan_jax_img_s=jax_row["images_per_s"],
                    gan_jax_step_ms=jax_row["step_ms"],
                    compile_s=jax_row["compile_s"],
                    gflop_per_step=jax_row.get("gflop_per_step"),
                    lowered_gflop_per_step=jax_row.get("lowered_gflop_per_step"),
                    mfu=jax_row.get("mfu"),
                )
                if jax_row.get("flops_source", "compiled") != "compiled":
                    notes.append(f"FLOPs: {jax_row['flops_source']}")
            else:
                notes.append(f"gan_jax: {jax_row['error'] if jax_row else 'not measured'}")
            for mode, rows_ in (("eager", eager), ("compile", compiled)):
                peer = find(rows_, name, dtype)
                if peer and "error" not in peer:
                    row[f"torch_{mode}_img_s"] = peer["images_per_s"]
                    row[f"torch_{mode}_first_call_s"] = peer.get("first_call_s")
                    if "gan_jax_img_s" in row:
                        row[f"ratio_vs_{mode}"] = row["gan_jax_img_s"] / peer["images_per_s"]
                else:
                    notes.append(f"torch {mode}: {peer['error'] if peer else 'not measured'}")
            row["notes"] = "; ".join(notes)
            rows.append(row)
    return rows


def goal_lines(steps: list[dict], pipeline: list[dict]) -> list[dict]:
    """Each goal of the issue against the rows that measure it."""
    goals = []
    for row in steps:
        for key, label in (
            ("ratio_vs_eager", "gan_jax ÷ PyTorch eager"),
            ("ratio_vs_compile", "gan_jax ÷ torch.compile"),
        ):
            if key in row:
                goals.append(
                    {
                        "goal": f"{label} ≥ {GOALS[key]} ({row['model']}, {row['dtype']})",
                        "measured": row[key],
                        "kind": "ratio",
                        "met": row[key] >= GOALS[key],
                    }
                )
        if row["model"] == GOAL_MFU_MODEL and row.get("mfu") is not None:
            goals.append(
                {
                    "goal": f"MFU ≥ {GOALS['mfu']:.0%} ({row['model']}, {row['dtype']})",
                    "measured": row["mfu"],
                    "kind": "pct",
                    "met": row["mfu"] >= GOALS["mfu"],
                }
            )
    for row in pipeline:
        if row.get("ratio") is not None:
            goals.append(
                {
                    "goal": f"input pipeline ≥ {GOALS['pipeline_ratio']}× the step's consumption ({row['model']})",
                    "measured": row["ratio"],
                    "kind": "ratio",
                    "met": row["ratio"] >= GOALS["pipeline_ratio"],
                }
            )
    return goals


STEP_COLUMNS = [
    ("model", "model"),
    ("dtype", "dtype"),
    ("batch", "batch"),
    ("n_critic", "D steps"),
    ("gan_jax_img_s", "gan_jax img/s"),
    ("torch_eager_img_s", "PyTorch eager img/s"),
    ("ratio_vs_eager", "gan_jax ÷ eager", "ratio"),
    ("torch_compile_img_s", "torch.compile img/s"),
    ("ratio_vs_compile", "gan_jax ÷ compile", "ratio"),
    ("gflop_per_step", "GFLOP/step"),
    ("mfu", "gan_jax MFU", "pct"),
    ("compile_s", "gan_jax compile s"),
    ("torch_compile_first_call_s", "torch.compile first call s"),
    ("notes", "notes"),
]
PIPELINE_COLUMNS = [
    ("model", "model"),
    ("batch", "batch"),
    ("images_per_step", "real images/step"),
    ("pipeline_img_s", "pipeline img/s"),
    ("step_consumes_img_s", "step consumes img/s"),
    ("ratio", "ratio", "ratio"),
]
CHECK_COLUMNS = [("check", "check"), ("status", "status"), ("seconds", "seconds"), ("detail", "detail")]
REFERENCE_COLUMNS = [
    ("model", "model"),
    ("precision", "precision"),
    ("batch", "batch"),
    ("peer", "reference"),
    ("gan_jax_s_kimg", "gan_jax s/kimg"),
    ("peer_s_kimg", "reference s/kimg"),
    ("speedup", "reference ÷ gan_jax time", "ratio"),
    ("gan_jax_img_s", "gan_jax img/s"),
    ("gan_jax_mem_gb", "gan_jax GPU GB"),
    ("peer_mem_gb", "reference GPU GB"),
    ("mfu", "gan_jax MFU", "pct"),
    ("notes", "notes"),
]
REFERENCE_PRECISION = (
    "'mixed': the model's highest resolutions in reduced precision (gan_jax bfloat16, "
    "model.<architecture>.num_bf16_res; NVlabs float16, num_fp16_res, with its conv_clamp; R3GAN bfloat16, "
    "FP16Stages), the rest float32; 'float32': all float32 (gan_jax at JAX's default "
    "precision, TF32 on NVIDIA GPUs; the references with TF32 off, as their training scripts "
    "leave it)"
)


def reference_rows(plan: dict, ours: list[dict], peers: list[dict]) -> list[dict]:
    """One row per (reference model, precision): gan_jax's and the reference code's s/kimg
    over whole lazy cycles, their ratio, memory and gan_jax's MFU bound."""
    rows = []
    for precision in plan.get("precisions", []):
        for m in plan.get("reference", []):
            row = {"model": m["name"], "precision": precision, "batch": m["batch"], "peer": m["peer"]}
            notes = []
            mine = next(
                (r for r in ours if r.get("model") == m["name"] and r.get("precision") == precision), None
            )
            theirs = next(
                (r for r in peers if r.get("model") == m["name"] and r.get("precision") == precision), None
            )
            if mine and "error" not in mine:
                row.update(
                    gan_jax_s_kimg=mine["s_per_kimg"],
                    gan_jax_img_s=mine["images_per_s"],
                    gan_jax_mem_gb=mine.get("peak_memory_mb", 0) / 1024 or None,
                    mfu=mine.get("mfu"),
                )
            else:
                notes.append(f"gan_jax: {mine['error'] if mine else 'not measured'}")
            if theirs and "error" not in theirs:
                row.update(
                    peer_s_kimg=theirs["s_per_kimg"],
                    peer_mem_gb=(theirs.get("peak_memory_mb") or 0) / 1024 or None,
                )
                plugins = theirs.get("cuda_plugins")
                if plugins and not all(plugins.values()):
                    notes.append(f"{m['peer']}'s CUDA kernels not loaded: {plugins}")
                if "gan_jax_s_kimg" in row:
                    row["speedup"] = row["peer_s_kimg"] / row["gan_jax_s_kimg"]
            else:
                notes.append(f"{m['peer']}: {theirs['error'] if theirs else 'not measured'}")
            row["notes"] = "; ".join(notes)
            rows.append(row)
    return rows


def render(report: dict) -> str:
    m = report.get("machine") or {}
    out = ["# gan_jax GPU suite" + (" — dry run" if report["dry_run"] else ""), ""]
    if report["dry_run"]:
        out += [f"**{DRY_RUN_BANNER}**", ""]
    t = report["timing"]
    out += [
        f"- command: `bash benchmarks/gpu_suite.sh{' --dry-run' if report['dry_run'] else ''}`; timings: "
        f"compilation (gan_jax) or the first call (PyTorch) apart, {t['warmup']} warm-up run(s), then the "
        f"median of {t['runs']} runs of {t['steps']} step(s)",
        f"- date: {m.get('date', '—')}; git commit {m.get('git_commit', '—')}",
        f"- device: {m.get('gpu') or m.get('device', '—')} ({m.get('backend', '—')}, {m.get('device_count', '—')} "
        f"device(s)); CPU {m.get('cpu', '—')} × {m.get('cpu_count', '—')}",
        f"- NVIDIA driver {m.get('driver', '—')}, CUDA {m.get('cuda_driver_api', '—')}; "
        f"torch CUDA {m.get('torch_cuda', '—')}, cuDNN {m.get('cudnn', '—')}",
        "- versions: "
        + ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())
        + f", torch {m.get('torch') or '(absent)'}, pytorch-fid {m.get('pytorch_fid') or '(absent)'}",
    ]
    peaks = (report.get("peaks") or {}).get("peak_tflops") or {}
    if peaks:
        out.append(
            "- measured matmul peak (MFU denominator): "
            + ", ".join(f"{dt} {p:.3g} TFLOP/s" for dt, p in peaks.items())
            + f" (n = {report['peaks'].get('matmul_n')})"
        )
    out += ["", "## Train steps: gan_jax against PyTorch", ""]
    for model in report["models"]:
        out.append(
            f"- {model['name']}: `{model['config_file']}` with {model['overrides'] or 'no changes'}; "
            f"params G {model['g_params']:,} + D {model['d_params']:,}; {PEER_CHECK[model['peer_params_equal']]}"
        )
    out += [f"- {dt}: {note}" for dt, note in PRECISION.items()]
    out += ["", markdown_table(report["steps"], STEP_COLUMNS), ""]
    out += ["## The models people train today: gan_jax against the reference code (s/kimg)", ""]
    for m in report.get("reference_models", []):
        out.append(
            f"- {m['name']}: `{m['config_file']}`, batch {m['batch']}, against {m['peer']}; lazy cycle "
            f"{m['cycle_steps']} steps (every phase at its rate); params G {m['g_params']:,} + D {m['d_params']:,}"
        )
    out += [f"- precision: {REFERENCE_PRECISION}", ""]
    out += [
        markdown_table(report["reference"], REFERENCE_COLUMNS) if report.get("reference") else "not measured",
        "",
    ]
    out += ["## Input pipeline against the step", ""]
    out += [
        markdown_table(report["pipeline"], PIPELINE_COLUMNS) if report["pipeline"] else "not measured",
        "",
    ]
    out += ["## FID Inception: gan_jax against pytorch-fid, same random weights", ""]
    fid = report.get("fid_inception")
    if fid:
        out.append(
            f"{fid['images'][0]} random {fid['images'][1]}×{fid['images'][2]} images; gan_jax on "
            f"{fid['gan_jax_device']}, pytorch-fid {fid['pytorch_fid']} on {fid['torch_device']}; "
            f"largest |feature| {fid['feature_max_abs']:.3g}."
        )
        rows = [{"precision": k, **fid[k]} for k in ("default", "highest")]
        cols = [
            ("precision", "precision"),
            ("max_abs_diff", "max abs difference of pool3"),
            ("mean_abs_diff", "mean abs difference"),
        ]
        out += ["", markdown_table(rows, cols), ""]
    else:
        out += ["not measured (see the checks below)", ""]
    out += ["## Goals" + (" (a dry run's figures say nothing about them)" if report["dry_run"] else ""), ""]
    goals = [{**g, "measured": fmt(g["measured"], g["kind"])} for g in report["goals"]]
    columns = [("goal", "goal"), ("measured", "measured"), ("met", "met")]
    out += [markdown_table(goals, columns) if goals else "none measured", ""]
    out += ["## Checks", "", markdown_table(report["checks"], CHECK_COLUMNS), ""]
    return "\n".join(out)


def build_report(out_dir: str) -> dict:
    path = lambda name: os.path.join(out_dir, name)  # noqa: E731
    plan = read_json(path("plan.json"))
    if plan is None:
        raise SystemExit(f"no plan.json in {out_dir}: the suite did not start")
    steps = step_rows(
        plan,
        read_lines(path("jax_steps.jsonl")),
        read_lines(path("torch_eager.jsonl")),
        read_lines(path("torch_compile.jsonl")),
    )
    pipeline = (read_json(path("pipeline.json")) or {}).get("rows", [])
    peer_rows = read_lines(path("torch_eager.jsonl")) + read_lines(path("torch_compile.jsonl"))
    models = [
        {
            **{k: m[k] for k in ("name", "config_file", "overrides", "g_params", "d_params")},
            "peer_params_equal": any(
                r.get("model") == m["name"] and r.get("params") == [m["g_params"], m["d_params"]]
                for r in peer_rows
            ),
        }
        for m in plan["models"]
    ]
    return {
        "dry_run": plan["dry_run"],
        "note": DRY_RUN_BANNER if plan["dry_run"] else "",
        "machine": read_json(path("machine.json")),
        "peaks": read_json(path("peaks.json")),
        "timing": plan["timing"],
        "precision": PRECISION,
        "models": models,
        "steps": steps,
        "pipeline": pipeline,
        "fid_inception": read_json(path("fid_inception.json")),
        "reference_models": [
            {k: m[k] for k in ("name", "config_file", "batch", "peer", "cycle_steps", "g_params", "d_params")}
            for m in plan.get("reference", [])
        ],
        "reference": reference_rows(
            plan,
            read_lines(path("reference_gan_jax.jsonl")),
            read_lines(path("reference_nvlabs.jsonl")) + read_lines(path("reference_r3gan.jsonl")),
        ),
        "goals": goal_lines(steps, pipeline),
        "checks": read_lines(path("status.jsonl")),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the suite's output folder")
    args = parser.parse_args()
    report = build_report(args.out)
    with open(os.path.join(args.out, "gpu_suite.json"), "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    markdown = render(report)
    with open(os.path.join(args.out, "gpu_suite.md"), "w") as f:
        f.write(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
