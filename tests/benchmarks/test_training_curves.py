"""benchmarks/training_curves.py: the bookkeeping that lets its runs span sessions.

Training and scoring need the peers (torch and their checkouts) and hours; what is tested
here is what decides whether a killed job or a second session loses work: which
checkpoints a run keeps, what the peer's job asks for, and which points are scored again.
"""

import json
import os
import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import training_curves  # noqa: E402


def _images(tmp_path, n=10):
    path = str(tmp_path / "images.npz")
    np.savez(path, images=np.zeros((n, 32, 32, 1), np.uint8), labels=np.arange(n) % 10)
    return path


@pytest.mark.parametrize("model", ["stylegan2", "r3gan"])
def test_every_curve_point_is_a_kept_checkpoint(model, tmp_path):
    kimg = training_curves.MODELS[model]["kimg"]
    config = training_curves.curve_config(model, 0, kimg, _images(tmp_path))
    batch = config.batch_size
    points = [int(k * 1000) // batch for k in kimg]
    every = config.checkpoint_every
    saves = list(range(every, config.num_steps + 1, every))
    assert config.num_steps == points[-1]
    assert set(points) <= set(saves)  # every point is a checkpoint
    assert len(saves) == training_curves.SAVES_PER_POINT * len(points)  # and five per point
    assert config.keep_checkpoints >= len(saves) + 1  # none is deleted, step 0 included
    assert config.seed == 0 and config.sample_every == 0 and config.eval_every == 0


def test_points_that_do_not_divide_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="multiples of the first point"):
        training_curves.curve_config("stylegan2", 0, (40, 100), _images(tmp_path))


@pytest.mark.parametrize("model", ["stylegan2", "r3gan"])
def test_the_peer_saves_often_and_keeps_every_point(model, tmp_path):
    images = _images(tmp_path, n=100)
    kimg = (0.64, 1.28)
    config = training_curves.curve_config(model, 3, kimg, images)
    args = training_curves.parse_args(["--model", model, "--dir", str(tmp_path / "runs")])
    path, out = training_curves.peer_job(args, config, model, 3, kimg)
    with open(path) as f:
        job = json.load(f)
    assert job["snapshots"] == [20, 40]
    assert job["checkpoint_every"] == training_curves.PEER_CHECKPOINT_EVERY
    assert job["meta"]["seed"] == 3 and job["meta"]["batch"] == config.batch_size
    order = np.load(job["order"])
    batches = 2 if model == "r3gan" else 1  # R3GAN's G phase reads its own real batch
    assert order.shape == (config.num_steps, batches, config.batch_size)
    assert order.min() >= 0 and order.max() < 100
    assert out == os.path.dirname(path)


def _row(framework, seed, step, fd):
    return dict(framework=framework, seed=seed, step=step, kimg=step * 0.032, fd_fmnist=fd, train_seconds=1.0)


def test_points_scored_before_are_kept_and_skipped(tmp_path):
    path = str(tmp_path / "curves.json")
    assert training_curves.scored(path) == set()
    old = [_row("gan_jax", 0, 1250, 30.0), _row("nvlabs", 0, 1250, 31.0), _row("gan_jax", 1, 1250, 29.0)]
    with open(path, "w") as f:
        json.dump(dict(rows=old), f)
    assert training_curves.scored(path) == {("gan_jax", 0, 1250), ("nvlabs", 0, 1250), ("gan_jax", 1, 1250)}
    new = [_row("nvlabs", 0, 2500, 20.0), _row("gan_jax", 1, 1250, 28.5)]  # one new, one rescored
    rows = training_curves.merged(new, path)
    assert [(r["framework"], r["seed"], r["step"], r["fd_fmnist"]) for r in rows] == [
        ("gan_jax", 0, 1250, 30.0),
        ("gan_jax", 1, 1250, 28.5),
        ("nvlabs", 0, 1250, 31.0),
        ("nvlabs", 0, 2500, 20.0),
    ]


def test_table_has_a_column_per_run_and_a_dash_where_a_point_is_missing():
    rows = [_row("gan_jax", 0, 1250, 30.0), _row("gan_jax", 0, 2500, 12.345), _row("nvlabs", 0, 1250, 31.0)]
    lines = training_curves.table(rows).splitlines()
    assert lines[0] == "| kimg | gan_jax, seed 0 | NVlabs, seed 0 |"
    assert lines[2] == "| 40 | 30.00 | 31.00 |"
    assert lines[3] == "| 80 | 12.35 | — |"


def test_training_seconds_add_up_over_restarts_and_interpolate(tmp_path):
    peer = tmp_path / "peer"
    peer.mkdir()
    log = [(50, 10.0), (100, 20.0), (150, 5.0), (200, 15.0)]  # killed after 100; the clock restarts
    (peer / "log.jsonl").write_text(
        "".join(json.dumps(dict(step=s, seconds_this_start=t)) + "\n" for s, t in log)
    )
    got = training_curves.training_seconds(str(peer), "peer", [25, 100, 150, 175, 250])
    assert got == pytest.approx({25: 5.0, 100: 20.0, 150: 25.0, 175: 30.0})  # 250: not reached
    ours = tmp_path / "gan_jax"
    ours.mkdir()
    lines = [dict(step=200, steps_per_sec=2.0), dict(step=300, eval=1.0), dict(step=400, steps_per_sec=1.0)]
    (ours / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    got = training_curves.training_seconds(str(ours), "gan_jax", [100, 250, 400])
    assert got == pytest.approx({100: 50.0, 250: 150.0, 400: 300.0})
