"""Every tool that reads a run leaves it as it was, byte for byte, even while a trainer is
saving into it (its step in a ``*.orbax-checkpoint-tmp-*`` folder, which a writing
checkpoint manager would delete)."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, load_config
from gan_jax import config as config_lib
from gan_jax.run import checkpoint
from gan_jax.run.trainer import train_and_evaluate


def snapshot(folder: str) -> dict:
    """Every file's SHA-256 and every folder, by path relative to ``folder``."""
    found = {}
    for root, dirs, names in os.walk(folder):
        for d in dirs:
            found[os.path.relpath(os.path.join(root, d), folder) + "/"] = "folder"
        for n in names:
            path = os.path.join(root, n)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory, synthetic_npz):
    """A tiny run with checkpoints 2 and 4, a best checkpoint, and a save in progress."""
    root = tmp_path_factory.mktemp("read_only")
    config = load_config("tiny")
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    config.num_steps, config.checkpoint_every, config.log_every = 4, 2, 2
    config.eval.cache_dir = str(root / "cache")
    workdir = str(root / "run")
    state = train_and_evaluate(config, workdir)
    best = checkpoint.make_best_manager(workdir)
    checkpoint.maybe_save_best(best, workdir, state, config, "fd_fmnist", 1.0, higher=False)
    best.close()
    saving = os.path.join(workdir, "checkpoints", "6.orbax-checkpoint-tmp-1765000000")
    os.makedirs(os.path.join(saving, "state"))
    with open(os.path.join(saving, "state", "partial"), "wb") as f:
        f.write(b"a step being written")
    return workdir, root


READERS = {
    "generate": ["-m", "gan_jax.tools.generate", "--seeds", "0-3", "--out", "{out}/g.png"],
    "generate best": [
        "-m",
        "gan_jax.tools.generate",
        "--checkpoint",
        "best",
        "--seeds",
        "0",
        "--out",
        "{out}/b.png",
    ],
    "evaluate": [
        "-m",
        "gan_jax.tools.evaluate",
        "--metrics",
        "fd_fmnist",
        "--num_samples",
        "64",
        "--split",
        "train",
        "--out",
        "{out}/e.jsonl",
    ],
    "export": ["-m", "gan_jax.tools.export", "--out", "{out}/g.safetensors"],
    "report": ["-m", "gan_jax.tools.report", "--out", "{out}/r.png"],
    "style figures": ["-m", "gan_jax.tools.style_figures", "--psi", "1,0.5", "--out", "{out}/s.png"],
    "video": ["-m", "gan_jax.tools.video", "--seeds", "0,1", "--frames", "3", "--out", "{out}/v.gif"],
    "project": ["-m", "gan_jax.tools.project", "--target_seed", "0", "--steps", "2", "--outdir", "{out}/p"],
    "posthoc ema (a run without snapshots)": [
        "-m",
        "gan_jax.tools.posthoc_ema",
        "--sigma_rel",
        "0.1",
        "--out",
        "{out}/p.safetensors",
    ],
    "convert (a run as target)": [
        "-m",
        "gan_jax.tools.convert_stylegan2",
        "--src",
        "{out}/net.npz",
        "--config",
        "configs/stylegan2_fashion_mnist.py",
    ],
}
EXPECTED_STATUS = {
    "style figures": 2,
    "convert (a run as target)": 2,
    "posthoc ema (a run without snapshots)": 2,
}  # refused: a DCGAN run; a trained run


def test_reading_tools_change_nothing_in_the_run(run, tmp_path):
    workdir, root = run
    before = snapshot(workdir)
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "GAN_JAX_CACHE": str(root / "cache"),
    }
    for name, args in READERS.items():
        command = [sys.executable, *(a.format(out=tmp_path) for a in args), "--workdir", workdir]
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == EXPECTED_STATUS.get(name, 0), (name, result.stderr[-2000:])
        assert snapshot(workdir) == before, f"{name} changed {workdir}"
    assert (tmp_path / "g.png").exists() and (tmp_path / "e.jsonl").exists()
    assert (tmp_path / "g.safetensors").exists() and (tmp_path / "r.png").exists()


def test_fine_tuning_from_the_run_changes_nothing_in_it(run, tmp_path):
    workdir, _ = run
    before = snapshot(workdir)
    with open(os.path.join(workdir, "config.json")) as f:
        tuned = config_lib.from_dict(json.load(f))
    tuned.update(init_from=workdir, num_steps=1, checkpoint_every=1)
    train_and_evaluate(tuned, str(tmp_path / "tuned"))
    assert snapshot(workdir) == before
