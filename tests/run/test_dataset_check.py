"""What a run checks of its data before the first step (`gan_jax.run.dataset_check`)."""

import json
import os

import numpy as np
import pytest

from gan_jax.data.pack_writer import Request, pack
from gan_jax.errors import ConfigError
from gan_jax.run.trainer import train_and_evaluate


def test_labels_beyond_num_classes_are_refused_before_the_first_step(tiny_config, tmp_path):
    tiny_config.model.num_classes = 2  # the synthetic squares have labels 0..3
    with pytest.raises(
        ConfigError,
        match=r"model.num_classes=2 but npz .* has labels 0 … 3 \(4 classes\): set --config.model.num_classes=4",
    ):
        train_and_evaluate(tiny_config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def test_a_pack_whose_labels_exceed_its_classes_is_refused(tiny_config, tmp_path, synthetic_npz):
    pack(Request(synthetic_npz, resolution=28), str(tmp_path / "pack"), log=lambda _: None)
    info_path = tmp_path / "pack" / "dataset.json"
    info = json.loads(info_path.read_text())
    info["num_classes"] = 3  # a dataset.json that says fewer classes than its labels hold
    info_path.write_text(json.dumps(info))
    tiny_config.dataset.update(source="packed", path=str(tmp_path / "pack"))
    tiny_config.model.num_classes = 3
    with pytest.raises(ConfigError, match="has labels 0 … 3"):
        train_and_evaluate(tiny_config, str(tmp_path / "run"))


def test_a_resume_on_another_pack_is_refused(tiny_config, tmp_path, synthetic_npz):
    images = np.load(synthetic_npz)
    pack(Request(synthetic_npz, resolution=28), str(tmp_path / "pack"), log=lambda _: None)
    tiny_config.dataset.update(source="packed", path=str(tmp_path / "pack"))
    tiny_config.num_steps, tiny_config.checkpoint_every = 2, 2
    train_and_evaluate(tiny_config, str(tmp_path / "run"))
    recorded = json.loads((tmp_path / "run" / "data.json").read_text())
    assert recorded["count"] == 256 and len(recorded["sha256"]) == 64
    # The same path now holds another pack (other images, same size and count).
    np.savez(tmp_path / "other.npz", images=255 - images["images"], labels=images["labels"])
    pack(
        Request(str(tmp_path / "other.npz"), resolution=28),
        str(tmp_path / "pack"),
        overwrite=True,
        log=lambda _: None,
    )
    tiny_config.num_steps = 4
    with pytest.raises(
        ConfigError,
        match=r"was trained on other data than packed .* \(sha256: .* -> .*; recorded in .*data.json\)",
    ):
        train_and_evaluate(tiny_config, str(tmp_path / "run"))
    tiny_config.resume_changes = True
    assert int(train_and_evaluate(tiny_config, str(tmp_path / "run")).step) == 4
