"""The GPU suite (`benchmarks/gpu_suite.sh`) at its dry-run sizes: the gan_jax side of each
check, the MFU arithmetic against hand-counted FLOPs, the report's tables and goals.

The PyTorch side runs only where ``GAN_JAX_TORCH_PYTHON`` names a Python with torch (and
pytorch-fid for the Inception comparison); otherwise those tests are skipped with the reason.
Batches here are 8, one image per fake CPU device of the test set-up.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import peer_env

from conftest import REPO

BENCHMARKS = os.path.join(REPO, "benchmarks")
sys.path.insert(0, BENCHMARKS)

import suite_fid_inception  # noqa: E402
import suite_jax_steps  # noqa: E402
import suite_mfu  # noqa: E402
import suite_pipeline  # noqa: E402
import suite_plan  # noqa: E402
import suite_report  # noqa: E402

TORCH_PYTHON = os.environ.get("GAN_JAX_TORCH_PYTHON", "")
NO_TORCH = "GAN_JAX_TORCH_PYTHON is unset (a Python with torch runs the PyTorch side)"
TIMING = {"warmup": 0, "runs": 1, "steps": 1}


@pytest.fixture(scope="module")
def dry_plan():
    """The dry run's plan, batches 8 (one image per fake device)."""
    plan = suite_plan.make_plan(dry_run=True)
    for model in plan["models"] + plan["reference"]:
        model["batch"] = model["config"]["batch_size"] = 8
    return plan


def model(plan, name):
    return next(m for m in plan["models"] if m["name"] == name)


# ----------------------------------------------------------------------------
# MFU arithmetic


def test_matmul_flops_are_counted_as_by_hand():
    m, k, n = 64, 96, 48
    compiled = jax.jit(lambda a, b: a @ b).lower(jnp.ones((m, k)), jnp.ones((k, n))).compile()
    assert suite_mfu.step_flops(compiled) == 2 * m * k * n


def test_conv_flops_are_counted_as_by_hand():
    b, h, w, cin, cout, kh, kw = 2, 10, 12, 3, 5, 3, 3

    def conv(x, kernel):
        return jax.lax.conv_general_dilated(
            x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    compiled = jax.jit(conv).lower(jnp.ones((b, h, w, cin)), jnp.ones((kh, kw, cin, cout))).compile()
    outputs = b * (h - kh + 1) * (w - kw + 1) * cout
    assert suite_mfu.step_flops(compiled) == 2 * outputs * cin * kh * kw


def test_mfu_is_achieved_over_peak():
    # 1.2 TFLOP per step in 3 ms against a 989 TFLOP/s peak: 400 TFLOP/s achieved.
    assert suite_mfu.mfu(1.2e12, 3e-3, 989e12) == pytest.approx(400 / 989)


# ----------------------------------------------------------------------------
# The plan


def test_plan_has_the_issues_models(dry_plan):
    full = {name: suite_plan.model_config(name, dry_run=False)[0] for name in suite_plan.MODELS}
    assert [(n, c.batch_size, c.dataset.resolution) for n, c in full.items()] == [
        ("DCGAN-64", 128, 64),
        ("SNGAN-32", 256, 32),
        ("BigGAN-128", 256, 128),
    ]
    assert (
        full["BigGAN-128"].model.biggan.attention_res == 64 and full["BigGAN-128"].model.biggan.g_width == 96
    )
    assert dry_plan["dry_run"] and dry_plan["dtypes"] == ["bfloat16", "float32"]
    for m in dry_plan["models"]:  # the dry run keeps each model's layout and step
        config = suite_plan.config_of(m, "bfloat16")
        assert config.model.dtype == "bfloat16"
        assert config.dataset.resolution == full[m["name"]].dataset.resolution
        assert config.n_critic == full[m["name"]].n_critic and m["g_params"] > 0 < m["d_params"]


def test_plan_has_the_reference_models_with_their_peers_arguments(dry_plan):
    full = {name: suite_plan.reference_config(name, dry_run=False) for name in suite_plan.REFERENCE}
    assert [(n, c.model.architecture, c.dataset.resolution, c.batch_size) for n, c in full.items()] == [
        ("StyleGAN2-256", "stylegan2", 256, 64),
        ("StyleGAN2-1024", "stylegan2", 1024, 32),
        ("R3GAN-256", "r3gan", 256, 32),
    ]
    # NVlabs' paper256 and config F: 8-layer mapping, cbase 16384 / 32768
    assert (
        full["StyleGAN2-256"].model.stylegan2.channel_base,
        full["StyleGAN2-1024"].model.stylegan2.channel_base,
    ) == (
        16384,
        32768,
    )
    assert dry_plan["precisions"] == ["mixed", "float32"]
    by_name = {e["name"]: e for e in dry_plan["reference"]}
    assert [e["cycle_steps"] for e in by_name.values()] == [16, 16, 1]  # lcm(16, 4); R3GAN has no lazy phase
    sg2 = by_name["StyleGAN2-256"]["peer_meta"]
    assert (sg2["d_reg_interval"], sg2["g_reg_interval"], sg2["pl_weight"]) == (16, 4, 2.0)
    assert tuple(by_name["R3GAN-256"]["peer_meta"]["schedules"]["gamma"]) == (150.0, 15.0)


def test_reference_row_over_a_lazy_cycle(dry_plan):
    """gan_jax's R3GAN row at the dry run's size: s/kimg from seconds per step and batch,
    the reduced-precision resolutions set for 'mixed'."""
    import suite_reference_jax

    entry = next(e for e in dry_plan["reference"] if e["name"] == "R3GAN-256")
    assert suite_reference_jax.config_of(entry, "mixed").model.r3gan.num_bf16_res == entry["reduced_res"] == 2
    row = suite_reference_jax.measure(entry, "mixed", {"warmup": 0, "runs": 1}, {"bfloat16": 1.0})
    assert row["s_per_kimg"] == pytest.approx(row["step_ms"] / entry["batch"], rel=1e-9)
    assert row["images_per_s"] == pytest.approx(1000.0 * entry["batch"] / row["step_ms"], rel=1e-9)
    assert 0 < row["mfu"] and row["programs"] == 1  # no lazy phase: one program


def test_reference_report_rows():
    plan = {
        "precisions": ["mixed"],
        "reference": [
            {"name": "A", "batch": 8, "peer": "nvlabs"},
            {"name": "B", "batch": 8, "peer": "r3gan"},
        ],
    }
    ours = [{"model": "A", "precision": "mixed", "s_per_kimg": 2.0, "images_per_s": 4000.0}]
    theirs = [
        {
            "model": "A",
            "precision": "mixed",
            "s_per_kimg": 3.0,
            "cuda_plugins": {"bias_act": True, "upfirdn2d": False},
        },
        {"model": "B", "precision": "mixed", "error": "ValueError: counts"},
    ]
    rows = suite_report.reference_rows(plan, ours, theirs)
    assert rows[0]["speedup"] == 1.5 and "upfirdn2d" in rows[0]["notes"]
    assert "gan_jax: not measured" in rows[1]["notes"] and "ValueError" in rows[1]["notes"]


# ----------------------------------------------------------------------------
# The gan_jax side of each check


def test_dcgan_step_row(dry_plan):
    dcgan = json.loads(json.dumps(model(dry_plan, "DCGAN-64")))
    dcgan["config"]["model"]["conv_transpose"] = "native"  # one compilation, the FLOPs counted in it
    row = suite_jax_steps.measure(dcgan, "float32", TIMING, {"float32": 1.0})
    assert row["flops_source"] == "compiled"
    assert row["images_per_s"] > 0 and row["gflop_per_step"] > 0
    assert row["mfu"] == pytest.approx(row["gflop_per_step"] * 1e9 / (row["step_ms"] / 1e3) / 1e12)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SNGAN-32", "BigGAN-128"])
def test_resnet_step_rows(dry_plan, name):
    row = suite_jax_steps.measure(model(dry_plan, name), "bfloat16", TIMING, {"bfloat16": 1.0})
    assert row["images_per_s"] > 0 and row["mfu"] > 0


def test_step_rows_refuse_other_networks(dry_plan):
    wrong = dict(model(dry_plan, "DCGAN-64"), g_params=1)
    with pytest.raises(ValueError, match="parameter counts"):
        suite_jax_steps.measure(wrong, "float32", TIMING, {})


def test_pipeline_against_consumption(dry_plan):
    m = model(dry_plan, "SNGAN-32")
    rows = [{"model": "SNGAN-32", "images_per_s": 10.0}, {"model": "SNGAN-32", "images_per_s": 30.0}]
    assert suite_pipeline.consumption(rows, m) == 30.0 * m["n_critic"]  # the fastest dtype, all D batches
    assert suite_pipeline.consumption([{"model": "SNGAN-32", "error": "x"}], m) is None
    config = suite_plan.config_of(m)
    config.dataset.update(source="synthetic", max_examples=32)
    assert suite_pipeline.input_pipeline.pipeline_images_per_s(config, 3) > 0


def test_random_inception_weights_fill_the_published_layout():
    state = suite_fid_inception.random_state_dict()
    layout = suite_fid_inception.inception.torch_layout()
    assert {k: v.shape for k, v in state.items() if k in layout} == {k: s for k, (_, s) in layout.items()}
    assert all(k in layout or k.endswith("num_batches_tracked") for k in state)


@pytest.mark.slow
def test_gan_jax_pool3_features():
    images = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    pool3 = suite_fid_inception.gan_jax_pool3(suite_fid_inception.random_state_dict(), images)
    assert pool3["default"].shape == pool3["highest"].shape == (1, 2048)
    np.testing.assert_allclose(pool3["default"], pool3["highest"], rtol=1e-3, atol=1e-3)


# ----------------------------------------------------------------------------
# The report


def test_markdown_table():
    rows = [
        {"name": "a|b", "n": 1234567, "x": 0.012345, "ok": True},
        {"name": "c", "n": 5, "x": None, "ok": False},
    ]
    table = suite_report.markdown_table(rows, [("name", "name"), ("n", "n"), ("x", "x", "pct"), ("ok", "ok")])
    assert table.splitlines() == [
        "| name | n | x | ok |",
        "| --- | ---: | ---: | --- |",
        "| a\\|b | 1,234,567 | 1.2% | yes |",
        "| c | 5 | — | no |",
    ]
    assert suite_report.fmt(2.5, "ratio") == "2.5×" and suite_report.fmt(4321.0, "ratio") == "4,321×"


def test_report_joins_rows_and_checks_goals(tmp_path):
    plan = {
        "dry_run": False,
        "dtypes": ["bfloat16"],
        "timing": TIMING,
        "models": [
            {
                "name": n,
                "config_file": f"configs/{n}.py",
                "overrides": {},
                "g_params": 1,
                "d_params": 2,
                "batch": 256,
                "n_critic": 4,
            }
            for n in ("SNGAN-32", "BigGAN-128")
        ],
    }
    lines = {
        "jax_steps.jsonl": [
            {
                "model": "BigGAN-128",
                "dtype": "bfloat16",
                "images_per_s": 300.0,
                "step_ms": 853.0,
                "compile_s": 60.0,
                "mfu": 0.45,
            },
            {"model": "SNGAN-32", "dtype": "bfloat16", "error": "ValueError: boom"},
        ],
        "torch_eager.jsonl": [{"model": "BigGAN-128", "dtype": "bfloat16", "images_per_s": 150.0}],
        "torch_compile.jsonl": [{"model": "BigGAN-128", "dtype": "bfloat16", "images_per_s": 400.0}],
        "status.jsonl": [
            {"check": "torch_compile", "status": "timed out", "seconds": 125, "detail": "limit"}
        ],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    for name, rows in lines.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = suite_report.build_report(str(tmp_path))
    big = next(r for r in report["steps"] if r["model"] == "BigGAN-128")
    assert big["ratio_vs_eager"] == 2.0 and big["ratio_vs_compile"] == 0.75
    sngan = next(r for r in report["steps"] if r["model"] == "SNGAN-32")
    assert "gan_jax: ValueError: boom" in sngan["notes"] and "torch eager: not measured" in sngan["notes"]
    met = {g["goal"]: g["met"] for g in report["goals"]}
    assert met == {
        "gan_jax ÷ PyTorch eager ≥ 1.5 (BigGAN-128, bfloat16)": True,
        "gan_jax ÷ torch.compile ≥ 1.0 (BigGAN-128, bfloat16)": False,
        "MFU ≥ 40% (BigGAN-128, bfloat16)": True,
    }
    markdown = suite_report.render(report)
    assert "| BigGAN-128 | bfloat16 | 256 | 4 | 300 | 150 | 2× | 400 | 0.75× |" in markdown
    assert "| torch_compile | timed out | 125 | limit |" in markdown and "DRY RUN" not in markdown
    report["dry_run"] = True
    assert suite_report.DRY_RUN_BANNER in suite_report.render(report)


def test_suite_script_usage():
    script = os.path.join(BENCHMARKS, "gpu_suite.sh")
    assert subprocess.run(["bash", "-n", script]).returncode == 0
    usage = subprocess.run(["bash", script, "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--dry-run" in usage.stdout and "GAN_JAX_TORCH_PYTHON" in usage.stdout
    assert subprocess.run(["bash", script, "--bogus"], capture_output=True).returncode == 2


# ----------------------------------------------------------------------------
# The PyTorch side, where a torch Python is named


def run_torch(*args: str) -> str:
    """stdout of the torch Python run with ``args`` in benchmarks/ (so the peers import)."""
    done = subprocess.run([TORCH_PYTHON, *args], capture_output=True, text=True, cwd=BENCHMARKS, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.skipif(not TORCH_PYTHON, reason=NO_TORCH)
def test_torch_peers_have_gan_jaxs_parameter_counts(tmp_path, dry_plan):
    full = suite_plan.make_plan(dry_run=False)
    path = tmp_path / "plans.json"
    path.write_text(json.dumps([dry_plan["models"], full["models"]]))
    code = (
        "import json, sys, torch, suite_torch_steps as s\n"
        "for models in json.load(open(sys.argv[1])):\n"
        "    for m in models:\n"
        "        with torch.device('meta'):  # shapes only, no weights\n"
        "            g, d = s.PEERS[m['architecture']](s.namespace(m['config']))\n"
        "        print(json.dumps([m['name'], s.count_params(g), s.count_params(d), m['g_params'], m['d_params']]))\n"
    )
    rows = [json.loads(line) for line in run_torch("-c", code, str(path)).splitlines()]
    assert len(rows) == 6
    for name, g, d, g_expected, d_expected in rows:
        assert (g, d) == (g_expected, d_expected), name


@pytest.mark.parametrize("peer", ["nvlabs", "r3gan"])
def test_reference_peers_time_their_loops_with_gan_jaxs_parameter_counts(tmp_path, dry_plan, peer):
    if peer_env.missing(peer):
        pytest.skip(f"peer absent: {peer_env.missing(peer)}")
    checkout = peer_env.CHECKOUTS[peer]
    plan = dict(dry_plan, cycles={"warmup": 0, "runs": 1}, precisions=["float32"])
    plan["reference"] = [dict(e, cycle_steps=2) for e in plan["reference"]]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "rows.jsonl"
    script = os.path.join(BENCHMARKS, "suite_reference_torch.py")
    run_torch(
        script,
        "--plan",
        str(tmp_path / "plan.json"),
        "--peer",
        peer,
        "--checkout",
        checkout,
        "--out",
        str(out),
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [e for e in plan["reference"] if e["peer"] == peer]
    assert [r["model"] for r in rows] == [e["name"] for e in expected] and all(
        "error" not in r for r in rows
    ), rows
    for row, entry in zip(rows, expected):  # the counts are checked inside; a mismatch is an error row
        assert row["params"] == [entry["g_params"], entry["d_params"]] and row["s_per_kimg"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not TORCH_PYTHON, reason=NO_TORCH)
def test_torch_eager_step_rows(tmp_path, dry_plan):
    plan = dict(dry_plan, timing=TIMING, dtypes=["float32"])
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    script = os.path.join(BENCHMARKS, "suite_torch_steps.py")
    out = tmp_path / "rows.jsonl"
    run_torch(
        script,
        "--plan",
        str(tmp_path / "plan.json"),
        "--mode",
        "eager",
        "--out",
        str(out),
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["model"] for r in rows] == ["DCGAN-64", "SNGAN-32", "BigGAN-128"]
    assert all(r["images_per_s"] > 0 for r in rows), rows


@pytest.mark.slow
@pytest.mark.skipif(not TORCH_PYTHON, reason=NO_TORCH)
def test_inception_matches_pytorch_fid(tmp_path):
    if subprocess.run([TORCH_PYTHON, "-c", "import pytorch_fid"], capture_output=True).returncode:
        pytest.skip(f"no pytorch-fid in {TORCH_PYTHON} (pip install pytorch-fid)")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"fid": {"images": 1, "size": 32}}))
    work = tmp_path / "work"
    subprocess.run(
        [
            sys.executable,
            os.path.join(BENCHMARKS, "suite_fid_inception.py"),
            "--plan",
            str(plan),
            "--work",
            str(work),
        ],
        check=True,
    )
    out = tmp_path / "fid.json"
    subprocess.run(
        [
            TORCH_PYTHON,
            os.path.join(BENCHMARKS, "peers", "fid_inception_torch.py"),
            "--work",
            str(work),
            "--out",
            str(out),
        ],
        check=True,
    )
    result = json.loads(out.read_text())
    assert result["highest"]["max_abs_diff"] < 1e-4 * max(1.0, result["feature_max_abs"])
