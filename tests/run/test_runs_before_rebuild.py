"""Runs written before the package was rebuilt still resume, generate and export.

`tests/fixtures/runs_before_rebuild/` holds two workdirs (config.json, metrics.jsonl and the
checkpoint of step 2) written by commit 0bd1e9e with

    python train.py --config configs/tiny.py --workdir W/dcgan --config.dataset.source=synthetic \\
        --config.num_steps=2 --config.checkpoint_every=2 --config.sample_every=0 --config.log_every=1
    python train.py --config configs/stylegan2_fashion_mnist.py --workdir W/stylegan2 \\
        --config.dataset.source=synthetic --config.dataset.resolution=8 --config.dataset.max_examples=64 \\
        --config.model.z_dim=8 --config.model.stylegan2.w_dim=8 --config.model.stylegan2.channel_base=64 \\
        --config.model.stylegan2.channel_max=8 --config.model.stylegan2.mbstd_group=2 --config.batch_size=8 \\
        --config.num_steps=2 --config.checkpoint_every=2 --config.sample_every=0 --config.log_every=1 \\
        --config.sample.num_images=4 --config.sample.standing_stats=8

(samples, TensorBoard files and the lock removed). Whatever the code's layout and config
schema become, such a run must go on training from its checkpoint, and `generate` and
`export` must read it.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from gan_jax import config as config_lib
from gan_jax.run import exported
from gan_jax.run.trainer import train_and_evaluate

FIXTURES = os.path.join(REPO, "tests", "fixtures", "runs_before_rebuild")
RUNS = ("dcgan", "stylegan2")


def workdir(tmp_path, name: str) -> str:
    path = str(tmp_path / name)
    shutil.copytree(os.path.join(FIXTURES, name), path)
    return path


def tool(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=900
    )


@pytest.mark.parametrize("name", RUNS)
def test_an_old_run_resumes_from_its_checkpoint(tmp_path, name):
    path = workdir(tmp_path, name)
    with open(os.path.join(path, "config.json")) as f:
        config = config_lib.from_dict(json.load(f))
    config.num_steps = 3
    state = train_and_evaluate(config, path)
    assert int(state.step) == 3
    logged = [json.loads(line)["step"] for line in open(os.path.join(path, "metrics.jsonl"))]
    assert logged == [1, 2, 3]  # the old lines kept, the new step appended


@pytest.mark.parametrize("name", RUNS)
def test_an_old_run_generates_and_exports(tmp_path, name):
    path = workdir(tmp_path, name)
    grid = str(tmp_path / "grid.png")
    done = tool("gan_jax.tools.generate", f"--workdir={path}", "--seeds=0-3", f"--out={grid}")
    assert done.returncode == 0 and os.path.getsize(grid) > 0, done.stderr[-2000:]
    out = str(tmp_path / "g.safetensors")
    done = tool("gan_jax.tools.export", f"--workdir={path}", f"--out={out}")
    assert done.returncode == 0, done.stderr[-2000:]
    generator = exported.load_generator(out, batch_size=4)
    images = generator(np.arange(4))
    assert images.shape[0] == 4 and images.dtype == np.uint8 and images.std() > 0
