"""The training loop and its command line: outputs, resume, determinism, user errors."""

import glob
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO
from test_checkpoint import _abstract
from gan_jax import parallel
from gan_jax.run import checkpoint
from gan_jax.run.trainer import train_and_evaluate


def _equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def _train_cli(workdir, *overrides, env=None):
    cmd = [
        sys.executable,
        os.path.join(REPO, "train.py"),
        "--config",
        os.path.join(REPO, "configs", "tiny.py"),
        "--workdir",
        str(workdir),
        *overrides,
    ]
    environ = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=environ, timeout=300)


def test_n_steps_equal_k_steps_then_restart(tiny_config, tmp_path):
    tiny_config.num_steps = 6
    straight = train_and_evaluate(tiny_config, str(tmp_path / "straight"))
    tiny_config.num_steps = 3
    train_and_evaluate(tiny_config, str(tmp_path / "resumed"))
    tiny_config.num_steps = 6
    resumed = train_and_evaluate(tiny_config, str(tmp_path / "resumed"))
    assert int(resumed.step) == 6
    assert _equal(straight, resumed)
    # metrics.jsonl: one line per logged step, in order, no duplicates from the restart.
    steps = [json.loads(l)["step"] for l in open(tmp_path / "resumed" / "metrics.jsonl")]
    assert steps == [2, 3, 4, 6]


def test_checkpoints_keep_the_last_k_and_restore(tiny_config, tmp_path):
    tiny_config.num_steps, tiny_config.checkpoint_every, tiny_config.keep_checkpoints = 6, 1, 2
    state = train_and_evaluate(tiny_config, str(tmp_path))
    manager = checkpoint.make_manager(str(tmp_path), tiny_config)
    assert manager.all_steps() == [5, 6]
    assert checkpoint.saved_config(manager, 6)["batch_size"] == tiny_config.batch_size
    assert all(checkpoint.verify(os.path.join(manager.directory, str(s))) is None for s in (5, 6))
    assert _equal(state, checkpoint.restore_latest(manager, _abstract(tiny_config, parallel.create_mesh())))


def test_cli_run_writes_every_output_and_resumes(synthetic_npz, tmp_path):
    data = ["--config.dataset.source=npz", f"--config.dataset.path={synthetic_npz}"]
    first = _train_cli(tmp_path, *data, "--config.num_steps=4")
    assert first.returncode == 0, first.stderr[-2000:]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["4"]
    assert os.path.exists(tmp_path / "samples" / "step_0000004.png")
    assert glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))
    config = json.load(open(tmp_path / "config.json"))
    assert config["num_steps"] == 4 and config["dataset"]["path"] == synthetic_npz
    records = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
    assert [r["step"] for r in records] == [2, 4]
    assert {"d_loss", "g_loss", "steps_per_sec", "d_real", "d_fake"} <= set(records[0])

    second = _train_cli(tmp_path, *data, "--config.num_steps=8")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from checkpoint at step 4" in second.stderr
    progress = [l for l in second.stderr.splitlines() if "] step " in l]
    assert progress[0].split("] step ")[1].startswith("6/8")
    assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["4", "8"]


def test_unknown_config_field_is_one_line_and_status_2(tmp_path):
    result = _train_cli(tmp_path, "--config.modle.z_dim=3")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "modle" in lines[0]
    assert (
        "did you mean 'model.z_dim'?" in lines[0] and "model.dcgan.g_width" in lines[0]
    )  # names the valid fields
    assert not os.path.exists(tmp_path / "checkpoints")


def test_ill_typed_field_and_bad_values_are_status_2(tmp_path, synthetic_npz):
    result = _train_cli(tmp_path, "--config.batch_size=many")
    assert result.returncode == 2 and result.stderr.startswith("error:")
    result = _train_cli(
        tmp_path,
        "--config.batch_size=15",
        "--config.dataset.source=npz",
        f"--config.dataset.path={synthetic_npz}",
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: batch_size=15 must be a positive multiple of the 2 devices")
    )
    result = _train_cli(tmp_path, "--config.dataset.source=idx", f"--config.dataset.path={tmp_path}/none")
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.parametrize(
    "source, spec, message",
    [
        (
            "def get_config(:\n    pass\n",
            "{f}",
            "cannot load the config file {f}: SyntaxError: invalid syntax (line 1)",
        ),
        (
            "def get_config():\n    raise RuntimeError('boom')\n",
            "{f}",
            "cannot load the config file {f}: RuntimeError: boom",
        ),
        (
            "def get_config():\n    return None\n",
            "{f}:foo",
            "the config file {f} takes no argument, but --config={f}:foo passes 'foo'",
        ),
    ],
)
def test_a_config_file_that_cannot_load_is_one_line(tmp_path, source, spec, message):
    path = tmp_path / "cfg.py"
    path.write_text(source)
    f = str(path)
    cmd = [
        sys.executable,
        os.path.join(REPO, "train.py"),
        "--config",
        spec.format(f=f),
        "--workdir",
        str(tmp_path / "w"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: " + message.format(f=f)) and "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "w")


def test_resuming_with_another_seed_or_dataset_is_refused_other_changes_logged(tiny_config, tmp_path, caplog):
    import logging

    from gan_jax.errors import ConfigError

    caplog.set_level(logging.INFO)
    tiny_config.num_steps = 2
    train_and_evaluate(tiny_config, str(tmp_path))
    before = sorted(os.listdir(tmp_path / "checkpoints"))
    for field, value in (("seed", 7), ("dataset.max_examples", 128), ("model.z_dim", 8)):
        changed = tiny_config.copy_and_resolve_references()
        section, _, leaf = field.rpartition(".")
        (changed[section] if section else changed)[leaf] = value
        changed.num_steps = 3
        with pytest.raises(ConfigError, match=f"was trained with another {field} .*resume_changes=True"):
            train_and_evaluate(changed, str(tmp_path))
        assert sorted(os.listdir(tmp_path / "checkpoints")) == before
    changed = tiny_config.copy_and_resolve_references()
    changed.update(seed=7, num_steps=3, resume_changes=True)
    changed.optimizer.g.learning_rate = 1e-4
    assert int(train_and_evaluate(changed, str(tmp_path)).step) == 3
    logged = [r.getMessage() for r in caplog.records if "resuming with a changed config" in r.getMessage()]
    assert any("seed: 0 -> 7" in m for m in logged) and any("num_steps: 2 -> 3" in m for m in logged)
    assert any("optimizer.g.learning_rate: 0.0002 -> 0.0001" in m for m in logged)


def test_out_of_device_memory_is_one_line(capsys, monkeypatch):
    from gan_jax.tools import cli

    def main(argv):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 81.2GiB.\nmore")

    monkeypatch.setattr(cli.app, "run", lambda f, flags_parser=None: f([]))  # the guarded main only
    with pytest.raises(SystemExit) as exit_:
        cli.run(main)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: out of device memory: RESOURCE_EXHAUSTED")
    assert "Lower batch_size" in err[0]
