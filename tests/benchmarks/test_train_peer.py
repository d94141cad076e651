"""benchmarks/peers/train_peer.py: a peer's training run stopped and started again on its
folder ends exactly where an unbroken run does.

The training curves' peer jobs run for hours and span sessions: each goes on from its last
``state.npz`` (networks, G_ema, Adam's moments and counts, path-length mean, ADA's p, the
image count and torch's generator). Here a small network of each peer trains six steps
unbroken, and again as three steps, a stop, and three more (the stop falls between two of
ADA's adjustments and two lazy regularizations); every saved array must be equal bit for
bit. Runs only where ``GAN_JAX_TORCH_PYTHON`` names a Python with torch and the peer's
checkout is given; skips otherwise and says which is missing.
"""

import json
import os
import sys

import numpy as np
import pytest

import peer_env
from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import peer_loops  # noqa: E402
import training_curves  # noqa: E402

STEPS, STOP = 6, 3


def _small_config(model: str, images: str):
    """The curve's config on ``images`` with a network small enough for seconds a step."""
    config = training_curves.curve_config(model, 1, (0.064, 0.128), images)
    if model == "stylegan2":
        config.model.update(z_dim=16)
        config.model.stylegan2.update(w_dim=16, channel_base=256, channel_max=16, mbstd_group=4)
        config.regularizer.update(r1_every=2, pl_every=2)
        config.augment.update(kind="ada", ada_p=0.2, ada_interval=2, ada_kimg=0.1)
    else:
        config.model.update(z_dim=16)
        config.model.r3gan.update(stage_widths=(8,) * 4, stage_groups=(2,) * 4, stage_blocks=(1,) * 4)
    return config


def _job(tmp_path, model: str, config, images: str, last: int) -> str:
    """A job file: the config's networks, a fixed batch order, training to step ``last``."""
    meta_fn = peer_loops.nvlabs_meta if model == "stylegan2" else peer_loops.r3gan_meta
    batches = 2 if model == "r3gan" else 1
    order = np.arange(STEPS * batches * config.batch_size) % 100
    order_path = str(tmp_path / "order.npy")
    np.save(order_path, order.reshape(STEPS, batches, config.batch_size))
    job = dict(
        meta=meta_fn(config, STEPS, 1), images=images, order=order_path, snapshots=[last], checkpoint_every=1
    )
    path = str(tmp_path / f"job_{last}.json")
    with open(path, "w") as f:
        json.dump(job, f)
    return path


def _train(model: str, job: str, out: str) -> None:
    """Runs (or goes on with) the job in ``out`` with the peer's Python."""
    peer = training_curves.MODELS[model]["peer"]
    flags = ["--peer", peer, "--checkout", peer_env.CHECKOUTS[peer], "--job", job, "--dir", out]
    peer_loops.run_peer(peer_env.TORCH_PYTHON, "train_peer.py", flags, timeout=600)


@pytest.mark.parametrize("model", ["stylegan2", "r3gan"])
def test_a_stopped_peer_run_goes_on_exactly(model, tmp_path):
    reason = peer_env.missing(training_curves.MODELS[model]["peer"])
    if reason:
        pytest.skip(f"peer absent: {reason}")
    channels = training_curves.MODELS[model]["channels"]
    images = str(tmp_path / "images.npz")
    rng = np.random.default_rng(0)
    np.savez(images, images=rng.integers(0, 256, (100, 32, 32, channels), np.uint8), labels=np.zeros(100))
    config = _small_config(model, images)
    unbroken, stopped = str(tmp_path / "unbroken"), str(tmp_path / "stopped")
    _train(model, _job(tmp_path, model, config, images, STEPS), unbroken)
    _train(model, _job(tmp_path, model, config, images, STOP), stopped)
    with np.load(os.path.join(stopped, "state.npz")) as f:
        assert int(f["cur_nimg"]) == STOP * config.batch_size  # it stopped where asked
    _train(model, _job(tmp_path, model, config, images, STEPS), stopped)
    with open(os.path.join(stopped, "log.jsonl")) as f:  # went on from the stop, not from 0
        assert [json.loads(line)["step"] for line in f] == list(range(1, STEPS + 1))
    for name in ("state.npz", f"snap_{STEPS}.npz"):
        with np.load(os.path.join(unbroken, name)) as a, np.load(os.path.join(stopped, name)) as b:
            assert sorted(a) == sorted(b)
            differ = [k for k in a if not np.array_equal(a[k], b[k])]
            assert not differ, f"{name}: {len(differ)} arrays differ, e.g. {differ[:3]}"
    with np.load(os.path.join(stopped, "state.npz")) as f:
        assert int(f["cur_nimg"]) == STEPS * config.batch_size
        assert min(float(f[k]) for k in f if k.endswith(".step")) > STOP  # Adam's counts went on
