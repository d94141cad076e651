"""A SIGTERM at any moment after the training command starts (imports, data, compilation,
training) ends it with status 0, and the same command resumes (`gan_jax.run.preemption`)."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO


def _command(workdir, data) -> list[str]:
    return [
        sys.executable,
        os.path.join(REPO, "train.py"),
        "--config",
        os.path.join(REPO, "configs", "tiny.py"),
        "--workdir",
        str(workdir),
        "--config.dataset.source=npz",
        f"--config.dataset.path={data}",
        "--config.num_steps=1000000",  # still training when the signal comes
        "--config.log_every=100",
        "--config.sample_every=0",
    ]


def _start(command) -> tuple[subprocess.Popen, list[str]]:
    """The process and the lines of its stderr, collected as they come."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()
    return process, lines


def _wait_for(lines: list[str], text: str, timeout: float = 240) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = [line for line in list(lines) if text in line]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no line with {text!r} in {lines[-5:]}")


def _last_step(log) -> int:
    try:
        lines = log.read_text().splitlines()
        return json.loads(lines[-1])["step"] if lines else 0
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.parametrize(
    "seconds", [1, pytest.param(5, marks=pytest.mark.slow), pytest.param(20, marks=pytest.mark.slow)]
)
def test_sigterm_at_any_moment_exits_0_and_the_same_command_resumes(seconds, synthetic_npz, tmp_path):
    command = _command(tmp_path / "run", synthetic_npz)
    process, lines = _start(command)
    time.sleep(seconds)
    process.terminate()
    assert process.wait(timeout=300) == 0, "".join(lines[-20:])
    text = "".join(lines)
    assert "Traceback" not in text
    stopped_in_loop = "stopped at step" in text
    if stopped_in_loop:
        step = int(text.split("stopped at step ")[1].split()[0])
        assert os.path.isdir(tmp_path / "run" / "checkpoints" / str(step))
    else:
        assert "stopped on request while starting" in text
    # The same command: it resumes from the checkpoint the stop wrote (or starts, if none was).
    again, lines = _start(command)
    if stopped_in_loop:
        assert f"resumed from checkpoint at step {step}" in _wait_for(lines, "resumed from checkpoint")
    _wait_for(lines, "phases:")  # the loop is about to run; then wait for a logged step past the start
    log, first = tmp_path / "run" / "metrics.jsonl", step if stopped_in_loop else 0
    end = time.monotonic() + 240
    while time.monotonic() < end and _last_step(log) <= first:
        time.sleep(0.2)
    assert _last_step(log) > first
    again.terminate()
    assert again.wait(timeout=300) == 0, "".join(lines[-20:])
