"""Training-time visuals: what TensorBoard receives, and `python -m gan_jax.tools.report`."""

import glob
import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from tensorboardX.proto import event_pb2

from conftest import REPO, load_config
from gan_jax.tools import report
from gan_jax.errors import ConfigError
from gan_jax.run.trainer import train_and_evaluate


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, synthetic_npz) -> str:
    """A tiny run of 4 steps: metrics logged at steps 2 and 4, the sample grid at step 4."""
    config = load_config("tiny")
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    config.num_steps = 4
    path = str(tmp_path_factory.mktemp("run"))
    train_and_evaluate(config, path)
    return path


def _events(path: str):
    """The `Event` protos of a TensorBoard event file (TFRecord: length, CRC, data, CRC)."""
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        (length,) = struct.unpack("<Q", data[i : i + 8])
        yield event_pb2.Event.FromString(data[i + 12 : i + 12 + length])
        i += 12 + length + 4


def test_tensorboard_gets_the_scalars_and_the_sample_grid(workdir):
    scalars, images = {}, {}
    for path in glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*")):
        for event in _events(path):
            for value in event.summary.value:
                if value.HasField("image"):
                    images[(value.tag, event.step)] = value.image
                elif value.HasField("simple_value"):
                    scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    records = {r["step"]: r for r in map(json.loads, open(os.path.join(workdir, "metrics.jsonl")))}
    for tag in ("d_loss", "g_loss", "d_real", "d_fake", "steps_per_sec"):
        assert sorted(scalars[tag]) == [2, 4]
        assert scalars[tag][4] == pytest.approx(records[4][tag], rel=1e-6)
    image = images[("samples/ema", 4)]
    grid = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
    written = np.asarray(Image.open(os.path.join(workdir, "samples", "step_0000004.png")))
    assert (image.height, image.width) == written.shape == (4 * 30 + 2, 4 * 30 + 2)  # 16 samples, 4x4
    np.testing.assert_array_equal(grid.reshape(written.shape + (-1,))[..., 0], written)


def test_report_of_a_training_run(workdir):
    path = report.write_report(workdir)
    assert path == os.path.join(workdir, "report.png")
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (1000, 350)  # two 500x350 panels side by side
    pixels = np.asarray(image.convert("L"))
    assert pixels.min() < 100 and pixels.max() == 255  # something drawn on white


def test_report_with_eval_curves(workdir, tmp_path):
    shutil.copy(os.path.join(workdir, "metrics.jsonl"), tmp_path / "metrics.jsonl")
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 6, "d_loss": "nan", "g_loss": 1.5}) + "\n")
        f.write(json.dumps({"step": "x", "g_loss": 9.0}) + "\n")  # a step that is not a number: left out
        f.write(json.dumps({"step": 7.5, "g_loss": 9.0}) + "\n")
        f.write('{"step": 8, "d_lo')  # a line cut short by a crash
    with open(tmp_path / "eval.jsonl", "w") as f:
        for step, fd, acc in ((2, 90.0, 0.2), (4, 70.5, 0.4)):
            f.write(
                json.dumps(
                    {
                        "step": step,
                        "results": {
                            "fd_fmnist": {"value": fd, "protocol": "p"},
                            "acc_fmnist": {"value": acc, "protocol": "p"},
                        },
                    }
                )
                + "\n"
            )
        f.write(json.dumps({"step": "four", "results": {"fd_fmnist": {"value": 5.0}}}) + "\n")
        f.write(
            json.dumps({"samples": "the EMA generator at step 4", "results": {"fd_fmnist": {"value": 1.0}}})
            + "\n"
        )
    training, evals = report.training_curves(str(tmp_path)), report.eval_curves(str(tmp_path))
    assert training["g_loss"][0] == [2, 4, 6] and training["g_loss"][1][2] == 1.5
    assert math.isnan(training["d_loss"][1][2])
    assert evals == {"fd_fmnist": ([2, 4], [90.0, 70.5]), "acc_fmnist": ([2, 4], [0.2, 0.4])}
    titles = [title for title, _ in report.panels(training, evals)]
    assert titles == ["losses", "mean D score (logit)", "eval: acc_fmnist", "eval: fd_fmnist"]
    out = str(tmp_path / "sub" / "r.png")
    assert report.write_report(str(tmp_path), out) == out
    assert Image.open(out).size == (1000, 700)  # four panels, two rows


def test_report_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        report.write_report(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="no metrics"):
        report.write_report(str(tmp_path))
    assert not os.path.exists(tmp_path / "report.png")


def _report_cli(*args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": REPO}
    return subprocess.run(
        [sys.executable, "-m", "gan_jax.tools.report", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_report_cli(workdir, tmp_path):
    out = str(tmp_path / "report.png")
    result = _report_cli("--workdir", workdir, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"wrote {out}" and Image.open(out).size == (1000, 350)
    result = _report_cli("--workdir", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: workdir {str(tmp_path / 'missing')!r} does not exist"
    ]


def test_report_output_of_the_wrong_kind_is_one_line(tmp_path):
    import json as _json

    from gan_jax.tools import report
    from gan_jax.errors import ConfigError

    (tmp_path / "metrics.jsonl").write_text(_json.dumps({"step": 1, "d_loss": 1.0, "g_loss": 1.0}) + "\n")
    with pytest.raises(ConfigError, match="written as .png, .pdf or .svg"):
        report.write_report(str(tmp_path), str(tmp_path / "r.txt"))
    os.makedirs(tmp_path / "taken.png")
    with pytest.raises(ConfigError, match="cannot write .*taken.png"):
        report.write_report(str(tmp_path), str(tmp_path / "taken.png"))
