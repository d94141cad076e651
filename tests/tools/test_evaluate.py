"""The evaluator CLI on a tiny run, and evaluation inside training with a best checkpoint."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from gan_jax.run import checkpoint
from gan_jax.run.trainer import train_and_evaluate


def _evaluate_cli(workdir, *args, cache):
    cmd = [sys.executable, "-m", "gan_jax.tools.evaluate", "--workdir", str(workdir), *args]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "GAN_JAX_CACHE": str(cache)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=REPO)


def test_training_evaluates_and_keeps_the_best_checkpoint(tiny_config, tmp_path):
    tiny_config.num_steps, tiny_config.eval_every = 4, 2
    tiny_config.eval.metrics = "fd_fmnist,pr_fmnist"
    tiny_config.eval.num_samples, tiny_config.eval.batch_size = 64, 32
    tiny_config.eval.split = "train"  # the synthetic npz has one split
    tiny_config.eval.cache_dir = str(tmp_path / "cache")
    train_and_evaluate(tiny_config, str(tmp_path / "run"))
    records = [json.loads(l) for l in open(tmp_path / "run" / "eval.jsonl")]
    assert [r["step"] for r in records] == [2, 4]
    assert set(records[0]["results"]) == {"fd_fmnist", "pr_fmnist_precision", "pr_fmnist_recall"}
    assert records[0]["results"]["fd_fmnist"]["protocol"] == "fd_fmnist_64gen_vs_train256"
    best = checkpoint.read_best(str(tmp_path / "run"))
    values = {r["step"]: r["results"]["fd_fmnist"]["value"] for r in records}
    assert best["metric"] == "fd_fmnist" and best["step"] == min(values, key=values.get)
    assert checkpoint.make_best_manager(str(tmp_path / "run")).all_steps() == [best["step"]]


def test_evaluate_cli_on_a_tiny_run(tiny_config, tmp_path):
    tiny_config.num_steps = 2
    train_and_evaluate(tiny_config, str(tmp_path / "run"))
    args = ["--metrics=fd_fmnist,kd_fmnist", "--num_samples=64", "--split=train"]
    out = tmp_path / "results" / "evals.jsonl"
    result = _evaluate_cli(tmp_path / "run", *args, f"--out={out}", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the EMA generator at step 2:" in result.stdout
    assert "fd_fmnist_64gen_vs_train256" in result.stdout and "kd_fmnist_std" in result.stdout
    real = _evaluate_cli(
        tmp_path / "run", *args, "--samples=real:train", f"--out={out}", cache=tmp_path / "cache"
    )
    assert real.returncode == 0, real.stderr[-2000:]
    assert not (tmp_path / "run" / "eval.jsonl").exists()  # the run is only read
    lines = [json.loads(l) for l in open(out)]
    assert lines[0]["workdir"] == str(tmp_path / "run")
    fd_gen, fd_real = (l["results"]["fd_fmnist"]["value"] for l in lines)
    assert fd_real < fd_gen
    # Against one class's images only: the reference holds exactly that class's examples.
    ones = int((np.load(tiny_config.dataset.path)["labels"] == 1).sum())
    one = _evaluate_cli(tmp_path / "run", *args, "--classes=1", cache=tmp_path / "cache")
    assert one.returncode == 0, one.stderr[-2000:]
    assert f"fd_fmnist_64gen_vs_train{ones}" in one.stdout
    bad = _evaluate_cli(tmp_path / "run", *args, "--classes=shoes", cache=tmp_path / "cache")
    assert bad.returncode == 2 and "--classes='shoes': give class numbers" in bad.stderr


def test_evaluate_cli_user_errors(tmp_path):
    result = _evaluate_cli(tmp_path, "--metrics=fd_fmnist", cache=tmp_path)
    assert (
        result.returncode == 2 and result.stderr.startswith("error:") and "no checkpoint in" in result.stderr
    )


@pytest.mark.slow  # make test-all
def test_inception_metrics_end_to_end_with_random_weights(tiny_config, tmp_path):
    """fid/kid/is/pr/dc through the evaluator, on Inception weights written in the published layout."""
    import numpy as np

    from conftest import random_inception_state_dict, synthetic_images
    from gan_jax.convert import inception as convert_inception
    from gan_jax.run import evaluation
    from gan_jax.training import build

    weights = tmp_path / "inception.npz"
    np.savez(weights, **convert_inception.convert(random_inception_state_dict()))
    images, labels = synthetic_images(n=24)
    np.savez(tmp_path / "small.npz", images=images, labels=labels)
    tiny_config.dataset.path = str(tmp_path / "small.npz")
    tiny_config.eval.update(
        split="train",
        batch_size=8,
        num_samples=20,
        cache_dir=str(tmp_path / "cache"),
        inception_weights=str(weights),
    )
    run = build.build(tiny_config)
    state = run.init_state()
    evaluate = evaluation.make_evaluation(tiny_config, run, ["fid", "kid", "is", "pr", "dc"])
    results = evaluate(state.ema_params, state.g_vars)
    assert results["fid"]["protocol"] == "fid_20gen_vs_train24"
    assert results["fid"]["value"] > 0 and results["is"]["value"] >= 1.0
    assert 0 <= results["pr_precision"]["value"] <= 1 and 0 <= results["dc_coverage"]["value"] <= 1


def test_a_damaged_config_json_is_one_line(tmp_path):
    from gan_jax.tools import evaluate as evaluate_lib
    from gan_jax.errors import ConfigError

    (tmp_path / "config.json").write_bytes(b'{"seed": 0,\xff')
    with pytest.raises(ConfigError, match="config.json is unreadable or not JSON"):
        evaluate_lib.load_run_config(str(tmp_path))
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="does not hold a config"):
        evaluate_lib.load_run_config(str(tmp_path))


def test_weights_or_cache_paths_of_the_wrong_kind(tmp_path):
    from gan_jax.errors import GanJaxError
    from gan_jax.metrics import inception

    with pytest.raises(GanJaxError, match="is a directory; point it at the converted .npz"):
        inception.weights_path(str(tmp_path))


def test_evaluate_reads_the_checkpoints_config_and_the_best_checkpoint(tiny_config, tmp_path):
    """Like generate and export, evaluate samples with the config saved in the checkpoint
    (config.json may have moved on: here it names another model), and --checkpoint best
    evaluates best_checkpoint/."""
    tiny_config.num_steps, tiny_config.eval_every = 4, 2
    tiny_config.eval.update(metrics="fd_fmnist", num_samples=64, batch_size=32, split="train")
    tiny_config.eval.cache_dir = str(tmp_path / "cache")
    workdir = tmp_path / "run"
    train_and_evaluate(tiny_config, str(workdir))
    saved = json.loads((workdir / "config.json").read_text())
    saved["model"]["dcgan"]["g_width"] = 999
    (workdir / "config.json").write_text(json.dumps(saved))
    best = checkpoint.read_best(str(workdir))
    args = ["--metrics=fd_fmnist", "--num_samples=64", "--split=train"]
    out = tmp_path / "evals.jsonl"
    result = _evaluate_cli(workdir, *args, "--checkpoint=best", f"--out={out}", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"the EMA generator at step {best['step']}:" in result.stdout
    during = [json.loads(l) for l in open(workdir / "eval.jsonl")][:2]
    value = {r["step"]: r["results"]["fd_fmnist"]["value"] for r in during}[best["step"]]
    again = json.loads(open(out).readline())["results"]["fd_fmnist"]["value"]
    assert again == pytest.approx(value, rel=1e-4)
