"""A pack that fails while training (a damaged record, a data worker killed) ends the run
with one line and status 2; the same packer command repairs the pack, and the same
training command resumes."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from gan_jax.data import packed
from gan_jax.data.pack_writer import Request, pack

SOURCE = "synthetic:3000:32:1"  # big enough for several Riegeli chunks in one shard


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory) -> str:
    dest = str(tmp_path_factory.mktemp("stream") / "pack")
    pack(Request(SOURCE, resolution=28), dest, log=lambda _: None)
    return dest


def _train(workdir, data, workers: int, steps: int, **popen) -> list[str]:
    return [
        sys.executable, os.path.join(REPO, "train.py"), "--config", os.path.join(REPO, "configs", "tiny.py"),
        "--workdir", str(workdir), "--config.dataset.source=packed", f"--config.dataset.path={data}",
        f"--config.dataset.workers={workers}", "--config.dataset.max_examples=0",
        f"--config.num_steps={steps}", "--config.checkpoint_every=100", "--config.sample_every=0",
    ]  # fmt: skip


ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_a_damaged_record_is_one_line_and_the_packer_repairs_it(pack_dir, tmp_path, workers):
    damaged = str(tmp_path / "pack")
    os.makedirs(damaged)
    for name in os.listdir(pack_dir):
        with open(os.path.join(pack_dir, name), "rb") as f:
            data = bytearray(f.read())
        if name.endswith(".array_record"):
            data[int(len(data) * 0.6)] ^= 0xFF
        with open(os.path.join(damaged, name), "wb") as f:
            f.write(bytes(data))
    done = subprocess.run(
        _train(tmp_path / "run", damaged, workers, 400), capture_output=True, text=True, env=ENV, timeout=300
    )
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: ")
        and "shard-00000-of-00001.array_record is damaged (Corrupted Riegeli" in last
    )
    assert "Traceback" not in done.stderr and "leaked shared_memory" not in done.stderr
    log = []
    pack(Request(SOURCE, resolution=28), damaged, log=log.append)
    assert any("is damaged or incomplete" in line for line in log), log
    packed.verify(packed.open_packed(damaged))


@pytest.mark.slow  # make test-all
def test_a_killed_data_worker_is_one_line_and_the_run_resumes(pack_dir, tmp_path):
    command = _train(tmp_path / "run", pack_dir, 2, 1_000_000)
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)
    checkpoints = tmp_path / "run" / "checkpoints"
    end = time.monotonic() + 240
    while time.monotonic() < end and not (
        checkpoints.is_dir() and any(n.isdigit() for n in os.listdir(checkpoints))
    ):
        time.sleep(0.5)
    workers = subprocess.run(
        ["pgrep", "-P", str(process.pid), "-f", "spawn_main"], capture_output=True, text=True
    )
    os.kill(int(workers.stdout.split()[0]), signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: a data worker process ended while reading step") and "exit code -9" in last
    assert "Traceback" not in stderr and "leaked shared_memory" not in stderr
    saved = max(int(n) for n in os.listdir(checkpoints) if n.isdigit())
    again = subprocess.run(
        _train(tmp_path / "run", pack_dir, 2, saved + 10),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resumed from checkpoint at step {saved}" in again.stderr
