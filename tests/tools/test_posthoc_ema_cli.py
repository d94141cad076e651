"""`python -m gan_jax.tools.posthoc_ema` on a tiny run with the post-hoc averages: snapshots
with the checkpoints, a bit-exact resume, a rebuilt width that loads as a generator, a
sweep's table, plot and best file, and one-line errors."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import gan_jax
from conftest import REPO, load_config
from gan_jax.errors import ConfigError
from gan_jax.run import checkpoint, posthoc_snapshots
from gan_jax.run.trainer import train_and_evaluate
from gan_jax.tools import posthoc_ema as tool
from gan_jax.training import build, posthoc_ema


def _config(synthetic_npz, steps):
    config = load_config("tiny")
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    config.num_steps, config.checkpoint_every, config.log_every, config.sample_every = steps, 4, 4, 0
    config.ema.posthoc.enabled = True
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory, synthetic_npz) -> str:
    workdir = str(tmp_path_factory.mktemp("posthoc") / "run")
    train_and_evaluate(_config(synthetic_npz, 12), workdir)
    return workdir


def _snapshots(workdir):
    """Every snapshot's step, width and tensors (the header's key order is safetensors' own)."""
    return [(s, sigma, jax.tree.map(np.asarray, p)) for s, sigma, p in posthoc_snapshots.read(workdir)]


def test_snapshots_come_with_checkpoints_and_resume_bit_exact(run, synthetic_npz, tmp_path):
    assert sorted(os.listdir(posthoc_snapshots.folder(run))) == [f"{s:08d}.safetensors" for s in (4, 8, 12)]
    resumed = str(tmp_path / "resumed")
    train_and_evaluate(_config(synthetic_npz, 8), resumed)  # a first run to 8, then resumed to 12
    assert sorted(os.listdir(posthoc_snapshots.folder(resumed))) == [
        "00000004.safetensors",
        "00000008.safetensors",
    ]
    train_and_evaluate(_config(synthetic_npz, 12), resumed)
    for (s, sigma, a), (t, tau, b) in zip(_snapshots(resumed), _snapshots(run), strict=True):
        assert (s, sigma) == (t, tau)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_array_equal(x, y)
    config = _config(synthetic_npz, 12)
    abstract = build.build(config).abstract_state()
    a = checkpoint.restore(checkpoint.open_for_reading(checkpoint.checkpoint_dir(run)), abstract)
    b = checkpoint.restore(checkpoint.open_for_reading(checkpoint.checkpoint_dir(resumed)), abstract)
    for x, y in zip(jax.tree.leaves(a.aux["posthoc_ema"]), jax.tree.leaves(b.aux["posthoc_ema"])):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_tracked_width_at_the_last_snapshot_is_that_average(run):
    snapshots = posthoc_snapshots.read(run)
    rebuilt = tool.rebuild(snapshots, 12, 0.10)
    (stored,) = [p for s, sigma, p in snapshots if s == 12 and sigma == 0.1]
    for x, y in zip(jax.tree.leaves(rebuilt), jax.tree.leaves(stored)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def _cli(*args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "-m", "gan_jax.tools.posthoc_ema", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)


def test_cli_rebuilds_a_width_and_sweeps(run, tmp_path):
    done = _cli("--workdir", run, "--sigma_rel", "0.07", "--out", str(tmp_path / "g.safetensors"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote" in done.stdout and "sigma_rel 0.07 at step 12" in done.stdout
    images = gan_jax.load_generator(str(tmp_path / "g.safetensors"))(seeds=[0, 1])
    assert images.shape == (2, 28, 28, 1)
    sweep = _cli(
        "--workdir", run, "--sweep", "0.05,0.15", "--num_samples", "64", "--split", "train",
        "--json", str(tmp_path / "s.json"), "--plot", str(tmp_path / "s.png"), "--out", str(tmp_path / "best.safetensors"),
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    result = json.loads((tmp_path / "s.json").read_text())
    assert [r["sigma_rel"] for r in result["rows"]] == [0.05, 0.15]
    assert result["best"]["value"] == min(r["value"] for r in result["rows"])
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "best.safetensors").exists()


def test_user_errors_are_one_line(tmp_path, synthetic_npz):
    for args, message in [
        (["--sigma_rel", "0.5", "--out", "x.safetensors"], "must be in (0, 0.2887)"),
        (["--sigma_rel", "0.1"], "--sigma_rel needs --out"),
        (["--sweep", "a,b"], "--sweep='a,b': give widths"),
        (["--sigma_rel", "0.1", "--sweep", "0.1"], "give either --sigma_rel or --sweep"),
    ]:
        done = _cli("--workdir", str(tmp_path), *args)
        assert done.returncode == 2 and message in done.stderr.strip().splitlines()[-1], (args, done.stderr)
    config = load_config("tiny")
    config.dataset.source, config.dataset.path, config.num_steps = "npz", synthetic_npz, 2
    train_and_evaluate(config, str(tmp_path / "plain"))
    with pytest.raises(ConfigError, match="has no post-hoc EMA snapshots .*ema.posthoc.enabled=True"):
        posthoc_snapshots.read(str(tmp_path / "plain"))
    assert posthoc_ema.SIGMA_MAX < 0.2887
