"""Every experiment in configs/: valid as shipped, and trains end to end when shrunk."""

import glob
import json
import os

import numpy as np
import pytest

from conftest import REPO, load_config, synthetic_images
from gan_jax.config import validate
from gan_jax.run.trainer import train_and_evaluate

CONFIGS = sorted(
    os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(REPO, "configs", "*.py"))
)


def test_the_model_zoo_is_all_there():
    for name in (
        "dcgan_fashion_mnist",
        "sngan_cifar10",
        "sngan_fashion_mnist",
        "biggan_cifar10",
        "biggan_fashion_mnist",
        "cdcgan_fashion_mnist",
    ):
        assert name in CONFIGS


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_valid_and_documented(name):
    config = load_config(name)
    validate(config)
    module_doc = open(os.path.join(REPO, "configs", f"{name}.py")).read().split('"""')[1]
    assert "Command:" in module_doc and "python train.py" in module_doc
    if name != "tiny":
        assert "Hardware" in module_doc


# One config per architecture and conditioning trains in `make test`; the others share its
# code paths at other sizes and run in `make test-all`.
_FAST = ("tiny", "dcgan_fashion_mnist", "cdcgan_fashion_mnist", "sngan_fashion_mnist", "r3gan_fashion_mnist")


def _slow(name: str) -> bool:
    return name not in _FAST


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if _slow(n) else n for n in CONFIGS]
)
def test_config_trains_two_steps_when_shrunk(name, tmp_path):
    """The config's architecture, loss, regularizers, augmentation and conditioning, with
    narrow layers on synthetic data of its resolution and channels."""
    config = load_config(name)
    if config.model.architecture == "stylegan2":  # the same networks, narrow and at most 64 px
        config.model.update(z_dim=8)
        config.model.stylegan2.update(
            w_dim=8, channel_base=256, channel_max=8, mbstd_group=min(config.model.stylegan2.mbstd_group, 4)
        )
        config.dataset.resolution = min(config.dataset.resolution, 64)
        config.lazy_dispatch = "cond"  # one program for both steps: half the compile time
    if config.model.architecture == "r3gan":  # the same stages, 8 channels wide, at most 64 px
        config.model.update(z_dim=8)
        config.model.r3gan.update(stage_widths=(), stage_groups=(), stage_blocks=(), embed_dim=0)
        config.dataset.resolution = min(config.dataset.resolution, 64)
    config.model.num_classes = min(config.model.num_classes, 10)  # ImageNet's 1000: 10 here
    res, ch = config.dataset.resolution, config.dataset.channels
    images, _ = synthetic_images(64, res, ch)
    labels = np.arange(64, dtype=np.int32) % 10
    path = str(tmp_path / "data.npz")
    np.savez(path, images=images, labels=labels)
    config.dataset.update(source="npz", path=path, cache_dir="")
    config.model.biggan.update(g_width=8, d_width=8, shared_dim=8)
    config.update(batch_size=8, num_steps=2, log_every=1, sample_every=0, checkpoint_every=2, eval_every=0)
    config.sample.update(num_images=min(config.sample.num_images, 20), standing_stats=16)
    workdir = tmp_path / "run"
    state = train_and_evaluate(config, str(workdir))
    assert int(state.step) == 2
    lines = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
    assert [line["step"] for line in lines] == [1, 2]
    assert all(np.isfinite(line["d_loss"]) and np.isfinite(line["g_loss"]) for line in lines)
    assert os.path.exists(workdir / "samples" / "step_0000002.png")
    assert os.path.isdir(workdir / "checkpoints" / "2")


def test_tiny_runs_on_a_machine_without_any_dataset(tmp_path, monkeypatch):
    """No Debian Fashion-MNIST files, no tfds data, no network: tiny trains on its built-in data."""
    from gan_jax.data import sources as datasets

    monkeypatch.setitem(datasets.KNOWN_LOCAL, "fashion_mnist", [str(tmp_path / "not_installed")])
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no_tfds"))
    config = load_config("tiny")
    assert config.dataset.source == "synthetic"
    config.update(num_steps=2, checkpoint_every=2, sample_every=0)
    state = train_and_evaluate(config, str(tmp_path / "run"))
    assert int(state.step) == 2
    assert os.path.isdir(tmp_path / "run" / "checkpoints" / "2")
