"""Where a run reports: TensorBoard (config text, hparams, purge on resume) and wandb offline.

TensorBoard's event files are read back with TensorBoard's own loader, the one its server
uses; wandb's run files with wandb's record schema. Either test is skipped, with its reason,
where that package is not installed.
"""

import glob
import json
import os
import shutil
import struct
import sys
import time

import numpy as np
import pytest

from gan_jax import config as config_lib
from gan_jax.run import hparams
from gan_jax.run import wandb_writer
from gan_jax.run import writers
from gan_jax.errors import ConfigError


def _tensorboard():
    """TensorBoard's loader and its hparams schema, or a skip."""
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing import plugin_event_accumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    return plugin_event_accumulator, plugin_data_pb2


def _load(logdir):
    """The run in ``logdir`` as TensorBoard loads it (every event kept, purges applied)."""
    accumulators, _ = _tensorboard()
    run = accumulators.EventAccumulator(str(logdir), size_guidance={accumulators.TENSORS: 0})
    run.Reload()
    return run


def _series(run, tag) -> list[tuple[int, float]]:
    from tensorboard.util import tensor_util

    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in run.Tensors(tag)]


def _texts(run, tag) -> list[tuple[int, str]]:
    from tensorboard.util import tensor_util

    return [(e.step, tensor_util.make_ndarray(e.tensor_proto).item().decode()) for e in run.Tensors(tag)]


def _log(writer, steps, offset=0.0):
    for step in steps:
        writer.scalars(step, {"d_loss": offset + step, "g_loss": -step, "eta_sec": float("inf")})
    writer.close()


def test_resumed_steps_show_once_in_tensorboard(tmp_path):
    config = config_lib.base_config()
    _log(writers.MetricsWriter(str(tmp_path), 0, config), [2, 4, 6, 8])
    # The interrupted run logged 6 and 8 past its checkpoint at 4; the resumed run logs them again.
    _log(writers.MetricsWriter(str(tmp_path), 4, config), [6, 8], offset=100)
    run = _load(tmp_path / "tensorboard")
    assert _series(run, "d_loss") == [(2, 2.0), (4, 4.0), (6, 106.0), (8, 108.0)]
    assert [s for s, _ in _series(run, "g_loss")] == [2, 4, 6, 8]
    assert "eta_sec" not in run.Tags()["tensors"]  # non-finite values stay in metrics.jsonl
    # The config as a JSON code block, from each start: step 0 and the first resumed step.
    texts = _texts(run, "config/text_summary")
    assert [s for s, _ in texts] == [0, 5]
    assert texts[0][1].startswith("```json\n") and texts[0][1].endswith("\n```")
    assert json.loads(texts[0][1][len("```json\n") : -len("\n```")])["batch_size"] == config.batch_size
    # A fresh start in a workdir without a checkpoint hides all that came before it.
    _log(writers.MetricsWriter(str(tmp_path), 0, config), [2])
    assert _series(_load(tmp_path / "tensorboard"), "d_loss") == [(2, 2.0)]


def test_hparams_hold_the_scalar_fields_and_the_metrics(tmp_path):
    _, plugin_data = _tensorboard()
    config = config_lib.base_config()
    config.eval_every, config.eval.metrics = 2, "fd_fmnist,pr_fmnist"
    config.wandb.tags = ("a", "b")
    writers.MetricsWriter(str(tmp_path), 0, config).close()
    writers.MetricsWriter(str(tmp_path), 4, config).close()  # a resume adds no second session
    run = _load(tmp_path / "tensorboard")
    content = run.PluginTagToContent("hparams")
    assert sorted(content) == ["_hparams_/experiment", "_hparams_/session_start_info"]
    experiment = plugin_data.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == [
        "d_loss",
        "g_loss",
        "eval/fd_fmnist",
        "eval/pr_fmnist_precision",
        "eval/pr_fmnist_recall",
    ]
    start = plugin_data.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]
    ).session_start_info
    assert start.hparams["batch_size"].number_value == config.batch_size
    assert start.hparams["optimizer.g.learning_rate"].number_value == pytest.approx(
        config.optimizer.g.learning_rate
    )
    assert start.hparams["model.architecture"].string_value == config.model.architecture
    assert start.hparams["wandb.enabled"].bool_value is False
    assert start.hparams["wandb.tags"].string_value == '["a", "b"]'
    assert {h.name for h in experiment.hparam_infos} == set(start.hparams)
    assert len(run.Tensors("_hparams_/experiment")) == 1


def test_metric_tags_without_evaluation_are_the_losses():
    assert hparams.metric_tags(config_lib.base_config()) == ["d_loss", "g_loss"]


# ----------------------------------------------------------------------------
# Weights & Biases


@pytest.fixture
def offline_wandb(monkeypatch, tmp_path):
    """wandb in offline mode, its settings and caches in ``tmp_path``, and no server to reach."""
    wandb = pytest.importorskip("wandb", reason="wandb is not installed (pip install wandb)")
    home = tmp_path / "wandb_home"
    for name, value in {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": home,
        "WANDB_CONFIG_DIR": home / "config",
        "WANDB_CACHE_DIR": home / "cache",
        "WANDB_DATA_DIR": home / "data",
        "WANDB_BASE_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return wandb


def _wandb_config(**fields):
    config = config_lib.base_config()
    config.wandb.update(**{"enabled": True, "mode": "offline", **fields})
    return config


def _records(path):
    """The records of a ``.wandb`` run file: a 7-byte header, then records cut into chunks
    (crc32 4 bytes, length 2, type 1: full, first, middle, last) that never cross a 32 KiB block."""
    from wandb.proto import wandb_internal_pb2

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:
            pos += 32768 - pos % 32768  # a block's padding
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            break
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            yield wandb_internal_pb2.Record.FromString(pending)
            pending = b""


def _finished_records(path, timeout=60.0):
    """The records of a run file once wandb's service has written its last (``exit``) record:
    `finish` may return before the service is done writing."""
    deadline = time.monotonic() + timeout
    while True:
        records = list(_records(path))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def _offline_runs(workdir):
    """[(run record, {step: {key: value}}, folder)] of each offline run folder, oldest first."""
    runs = []
    for folder in sorted(glob.glob(os.path.join(workdir, "wandb", "offline-run-*"))):
        (path,) = glob.glob(os.path.join(folder, "run-*.wandb"))
        run, history = None, {}
        for record in _finished_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
            elif kind == "history":
                row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                history.setdefault(row["_step"], {}).update(row)
        runs.append((run, history, folder))
    return runs


def test_wandb_offline_run_holds_scalars_eval_and_images(offline_wandb, tmp_path):
    workdir = tmp_path / "my_run"
    workdir.mkdir()
    config = _wandb_config(tags=("tiny",))
    writer = writers.MetricsWriter(str(workdir), 0, config)
    writer.scalars(2, {"d_loss": 0.5, "g_loss": 1.5, "eta_sec": float("inf")})
    writer.image(2, "samples/ema", np.full((8, 8, 3), 200, np.uint8))
    writer.eval_results(2, {"fd_fmnist": {"value": 12.5, "protocol": "fd_fmnist_10kgen_vs_test10k"}})
    writer.scalars(4, {"d_loss": 0.25, "g_loss": 2.0})
    writer.close()

    run_id = (workdir / wandb_writer.RUN_ID_FILE).read_text().strip()
    ((run, history, folder),) = _offline_runs(workdir)
    assert folder.endswith(f"-{run_id}") and run.run_id == run_id
    assert (run.project, run.display_name, list(run.tags)) == ("gan_jax", "my_run", ["tiny"])
    config_items = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert config_items["batch_size"] == config.batch_size and config_items["wandb"]["enabled"] is True
    assert sorted(history) == [2, 4]
    assert history[2]["d_loss"] == 0.5 and history[2]["eval/fd_fmnist"] == 12.5
    assert "eta_sec" not in history[2] and history[4]["g_loss"] == 2.0
    assert history[2]["samples/ema/_type"] == "image-file"
    assert os.path.exists(os.path.join(folder, "files", history[2]["samples/ema/path"]))

    # A resume continues the same wandb run; a fresh start makes a new one.
    writers.MetricsWriter(str(workdir), 4, config).close()
    assert (workdir / wandb_writer.RUN_ID_FILE).read_text().strip() == run_id
    assert [r.run_id for r, _, _ in _offline_runs(workdir)] == [run_id, run_id]
    assert wandb_writer.run_id(str(workdir), 0) != run_id


def test_wandb_missing_or_misconfigured_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` fails, as when not installed
    config = _wandb_config()
    with pytest.raises(
        ConfigError, match=r"^config.wandb.enabled=True needs the wandb package: pip install wandb$"
    ):
        config_lib.validate(config)
    with pytest.raises(ConfigError, match="pip install wandb"):
        writers.MetricsWriter(str(tmp_path), 0, config)
    config.wandb.enabled = False
    config_lib.validate(config)  # off by default: wandb is never imported
    writers.MetricsWriter(str(tmp_path), 0, config).close()
    config.wandb.mode = "remote"
    with pytest.raises(ConfigError, match="wandb.mode='remote' must be 'online' or 'offline'"):
        config_lib.validate(config)


# ----------------------------------------------------------------------------
# End to end


@pytest.mark.slow  # two tiny training runs: their compilation takes most of a minute
def test_training_resumed_from_an_earlier_checkpoint_logs_each_step_once(
    tiny_config, offline_wandb, tmp_path
):
    """A run that logged past its last checkpoint (here: checkpoint 8 removed) resumes from
    step 4; TensorBoard shows each step once, the new values; wandb continues the same run."""
    from gan_jax.run.trainer import train_and_evaluate

    tiny_config.num_steps, tiny_config.sample_every = 8, 0
    tiny_config.wandb.update(enabled=True, mode="offline")
    train_and_evaluate(tiny_config, str(tmp_path))
    first = _series(_load(tmp_path / "tensorboard"), "d_loss")
    shutil.rmtree(tmp_path / "checkpoints" / "8")
    train_and_evaluate(tiny_config, str(tmp_path))

    run = _load(tmp_path / "tensorboard")
    assert [s for s, _ in _series(run, "d_loss")] == [2, 4, 6, 8]
    # The replay is deterministic: the values of the resumed steps are those of the first run.
    assert [v for _, v in _series(run, "d_loss")] == pytest.approx([v for _, v in first])
    assert [s for s, _ in _series(run, "steps_per_sec")] == [2, 4, 6, 8]
    assert [s for s, _ in _texts(run, "config/text_summary")] == [0, 5]
    assert [e.step for e in run.Tensors("samples/ema")] == [8]
    assert len(glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))) == 2
    (first_run, history, _), (resumed, replayed, _) = _offline_runs(tmp_path)
    assert first_run.run_id == resumed.run_id
    assert sorted(history) == [2, 4, 6, 8] and sorted(replayed) == [6, 8]
    assert replayed[8]["samples/ema/_type"] == "image-file"


@pytest.mark.parametrize("key", [None, "0" * 40])
def test_wandb_online_without_key_or_server_logs_offline_with_a_warning(
    offline_wandb, monkeypatch, tmp_path, caplog, key
):
    """No API key, or a key and no server: a warning, then the same run offline; never a
    traceback, never a wait of minutes."""
    import logging
    import time

    caplog.set_level(logging.INFO)
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    if key:
        monkeypatch.setenv("WANDB_API_KEY", key)
    workdir = tmp_path / "run"
    workdir.mkdir()
    start = time.monotonic()
    writer = writers.MetricsWriter(str(workdir), 0, _wandb_config(mode="online"))
    writer.scalars(2, {"d_loss": 0.5})
    writer.close()
    assert time.monotonic() - start < wandb_writer.INIT_TIMEOUT_S
    why = "127.0.0.1 cannot be reached" if key else "no API key (run wandb login, or set WANDB_API_KEY)"
    assert any(f"wandb cannot log online: {why}; logging offline" in r.getMessage() for r in caplog.records)
    ((_, history, _),) = _offline_runs(workdir)
    assert history[2]["d_loss"] == 0.5
