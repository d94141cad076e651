"""Multi-host training: two processes of two CPU devices each, joined by
`jax.distributed` on 127.0.0.1 with gloo collectives, against one process of four.

Each process reads its own slice of every global batch; the two-process run must
reach the single-process state, write one set of logs, samples and config (process
0's), and leave a checkpoint that one process restores onto any device count.

Both runs take the same global batches and noise, so they compute the same function,
but not to the last bit: the step's all-reduces (gradient means, BatchNorm
statistics) add the four devices' partial sums in the order gloo's allreduce takes
them, which is not the order of the single-process all-reduce. Measured after 4 steps
of configs/tiny.py: 51 of the state's 67 leaves differ; the largest difference is
3.0e-7 (Adam's first moment of D's first convolution, whose largest value is 1.25),
and no leaf differs by more than 6.2e-7 of its largest value. Two processes of one
device each against one process of two agree bit for bit (two summands: a + b = b + a),
which pins the difference on the reduction order rather than on the data each process
reads.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_config
from gan_jax import parallel
from gan_jax.training import build
from gan_jax.run import checkpoint
from gan_jax.metrics import evaluator, features
from gan_jax.training.state import GANState

WORKER = os.path.join(REPO, "tests", "multihost_worker.py")
TIMEOUT_S = 300
PROCESSES, DEVICES_PER_PROCESS = 2, 2
# Rounding of a different summation order (module docstring): 16x the measured 6.2e-7.
RTOL, ATOL = 1e-5, 1e-7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_flags(workdir, npz: str, num_steps: int, *extra: str) -> list[str]:
    return [
        "--config",
        os.path.join(REPO, "configs", "tiny.py"),
        "--workdir",
        str(workdir),
        "--config.dataset.source=npz",
        f"--config.dataset.path={npz}",
        f"--config.num_steps={num_steps}",
        *extra,
    ]


def _eval_flags(cache_dir) -> list[str]:
    return [
        "--config.eval_every=4",
        "--config.eval.metrics=fd_fmnist",
        "--config.eval.num_samples=32",
        "--config.eval.batch_size=32",
        f"--config.eval.cache_dir={cache_dir}",
    ]


def _distributed_flags(port: int, process_id: int, num_processes: int = PROCESSES) -> list[str]:
    return [
        "--config.distributed.enabled=True",
        f"--config.distributed.coordinator_address=127.0.0.1:{port}",
        f"--config.distributed.num_processes={num_processes}",
        f"--config.distributed.process_id={process_id}",
    ]


def _launch(name: str, tmp, devices: int, flags: list[str]) -> tuple[str, subprocess.Popen, str]:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
        # conftest gave this process 8 devices; each worker needs its own count
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "PYTHONPATH": REPO,
    }
    log = str(tmp / f"{name}.log")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, WORKER, str(tmp / f"{name}.writes.json"), *flags],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(tmp),
        )
    return name, proc, log


def _wait(runs: list[tuple[str, subprocess.Popen, str]]) -> None:
    """Waits for every run; when one fails (its peer would wait on it) or time runs out,
    stops the rest and fails with every run's output."""
    deadline = time.monotonic() + TIMEOUT_S
    procs = [p for _, p, _ in runs]
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    if any(p.returncode != 0 for p in procs):
        report = [
            f"--- {name}: exit status {p.returncode}\n{open(log).read()[-4000:]}" for name, p, log in runs
        ]
        pytest.fail("a training process failed or timed out\n" + "\n".join(report))


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory, synthetic_npz) -> dict[str, str]:
    """Trains both ways at once: ``two_processes`` and ``one_process`` workdirs; run logs,
    write records (``<run>.log``, ``<run>.writes.json``) and caches lie in their parent.

    Each process has its own evaluation cache, as hosts with local disks do, and only
    process 1's holds the reference features: the processes must still agree to compute
    them together rather than process 0 alone waiting on process 1.
    """
    tmp = tmp_path_factory.mktemp("multihost")
    config = load_config("tiny")
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    stale = evaluator.reference_cache_path(
        config.dataset, config.eval.split, features.get_feature_net("fmnist"), str(tmp / "cache1")
    )
    os.makedirs(os.path.dirname(stale))
    np.savez(stale, features=np.zeros((256, 128), np.float32))

    port = _free_port()
    dirs = {"two_processes": tmp / "two_processes", "one_process": tmp / "one_process"}
    runs = [
        _launch(
            f"process{i}",
            tmp,
            DEVICES_PER_PROCESS,
            _train_flags(dirs["two_processes"], synthetic_npz, 4, *_eval_flags(tmp / f"cache{i}"))
            + _distributed_flags(port, i),
        )
        for i in range(PROCESSES)
    ]
    runs.append(
        _launch(
            "one_process",
            tmp,
            PROCESSES * DEVICES_PER_PROCESS,
            _train_flags(dirs["one_process"], synthetic_npz, 4, *_eval_flags(tmp / "cache")),
        )
    )
    _wait(runs)
    return {k: str(v) for k, v in dirs.items()}


def _restore(workdir, devices: list) -> GANState:
    config = load_config("tiny")
    mesh = parallel.create_mesh(devices)
    abstract = build.build(config, mesh).abstract_state()
    manager = checkpoint.make_manager(workdir, config)
    try:
        return checkpoint.restore(manager, abstract)
    finally:
        manager.close()


def _leaves(state: GANState) -> list[tuple[str, np.ndarray]]:
    return [
        (jax.tree_util.keystr(path), np.asarray(leaf))
        for path, leaf in jax.tree_util.tree_leaves_with_path(state)
    ]


def test_two_processes_train_to_the_state_of_one_process(workdirs):
    devices = jax.devices()[: PROCESSES * DEVICES_PER_PROCESS]
    multi = _leaves(_restore(workdirs["two_processes"], devices))
    single = _leaves(_restore(workdirs["one_process"], devices))
    assert [p for p, _ in multi] == [p for p, _ in single]
    groups = {p.split("[")[0].split(".")[1] for p, _ in multi}
    assert {
        "step",
        "g_params",
        "g_vars",
        "d_params",
        "d_vars",
        "g_opt_state",
        "d_opt_state",
        "ema_params",
    } <= groups
    for (path, a), (_, b) in zip(multi, single):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        if np.issubdtype(a.dtype, np.floating):
            # relative to the leaf's largest value: a sum that cancels to near zero keeps
            # the rounding of its large terms
            assert np.abs(a - b).max() <= RTOL * np.abs(b).max() + ATOL, path
        else:  # the step and Adam's step counts
            np.testing.assert_array_equal(a, b, err_msg=path)
    assert dict(multi)[".step"] == 4


def test_checkpoint_of_two_processes_restores_in_one_onto_four_or_one_device(workdirs):
    four = _restore(workdirs["two_processes"], jax.devices()[:4])
    one = _restore(workdirs["two_processes"], jax.devices()[:1])
    assert {len(x.sharding.device_set) for x in jax.tree.leaves(four)} == {4}
    assert {len(x.sharding.device_set) for x in jax.tree.leaves(one)} == {1}
    for (path, a), (_, b) in zip(_leaves(four), _leaves(one)):
        np.testing.assert_array_equal(a, b, err_msg=path)
    manager = checkpoint.make_manager(workdirs["two_processes"], load_config("tiny"))
    assert manager.all_steps() == [4]
    assert checkpoint.saved_config(manager, 4)["distributed"]["num_processes"] == PROCESSES
    manager.close()


def _writes(workdirs, run: str) -> set[str]:
    """Files under the two-process workdir that ``run`` opened for writing, outside the
    checkpoint folders (every process writes its part of a checkpoint)."""
    root = workdirs["two_processes"]
    with open(os.path.join(os.path.dirname(root), f"{run}.writes.json")) as f:
        paths = [os.path.relpath(p, root) for p in json.load(f) if p.startswith(root + os.sep)]
    return {
        p
        for p in paths
        if p.split(os.sep)[0] != "checkpoints"
        and not (p.startswith("best_checkpoint" + os.sep) and p.split(os.sep)[1] != "best.json")
    }


def test_only_process_zero_writes_logs_samples_and_config(workdirs):
    root = workdirs["two_processes"]
    events = os.listdir(os.path.join(root, "tensorboard"))
    assert len(events) == 1
    assert _writes(workdirs, "process0") == {
        ".write_test0",
        ".lock",
        "config.json.tmp",
        "config.json",
        "data.json.tmp",
        "data.json",
        "metrics.jsonl",
        "eval.jsonl",
        os.path.join("best_checkpoint", "best.json"),
        os.path.join("samples", "step_0000004.png"),
        os.path.join("tensorboard", events[0]),
    }
    assert _writes(workdirs, "process1") == {".write_test1"}  # its probe that the workdir is writable
    logs = {
        run: open(os.path.join(os.path.dirname(root), f"{run}.log")).read()
        for run in ("process0", "process1")
    }
    assert "] step 4/4" in logs["process0"] and "] step " not in logs["process1"]


def test_two_processes_log_what_one_process_logs(workdirs):
    def read(run: str, name: str) -> list[dict]:
        return [json.loads(line) for line in open(os.path.join(workdirs[run], name))]

    multi, single = read("two_processes", "metrics.jsonl"), read("one_process", "metrics.jsonl")
    assert [r["step"] for r in multi] == [r["step"] for r in single] == [2, 4]
    for m, s in zip(multi, single):
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert m[key] == pytest.approx(s[key], rel=RTOL, abs=ATOL), key
    multi_eval, single_eval = read("two_processes", "eval.jsonl"), read("one_process", "eval.jsonl")
    assert [r["step"] for r in multi_eval] == [4]
    tmp = os.path.dirname(workdirs["two_processes"])
    caches = [glob.glob(os.path.join(tmp, f"cache{i}", "reference", "*.npz")) for i in range(PROCESSES)]
    assert [len(c) for c in caches] == [1, 1]  # process 1 replaced its stale copy
    np.testing.assert_array_equal(np.load(caches[0][0])["features"], np.load(caches[1][0])["features"])
    # Samples are quantised to uint8 before they meet the feature network, which hides
    # the state's last-bit differences (measured: equal grids, equal FD); a value on a
    # rounding edge could still move one level.
    assert multi_eval[0]["results"]["fd_fmnist"]["value"] == pytest.approx(
        single_eval[0]["results"]["fd_fmnist"]["value"], rel=1e-4
    )

    def grid(run: str) -> np.ndarray:
        return np.asarray(Image.open(os.path.join(workdirs[run], "samples", "step_0000004.png")), np.int16)

    assert np.abs(grid("two_processes") - grid("one_process")).max() <= 1


def test_two_processes_of_one_device_equal_one_process_of_two_bit_for_bit(tmp_path, synthetic_npz):
    port = _free_port()
    runs = [
        _launch(
            f"process{i}",
            tmp_path,
            1,
            _train_flags(tmp_path / "two_processes", synthetic_npz, 2)
            + _distributed_flags(port, i, num_processes=2),
        )
        for i in range(2)
    ]
    runs.append(_launch("one_process", tmp_path, 2, _train_flags(tmp_path / "one_process", synthetic_npz, 2)))
    _wait(runs)
    multi = _leaves(_restore(tmp_path / "two_processes", jax.devices()[:2]))
    single = _leaves(_restore(tmp_path / "one_process", jax.devices()[:2]))
    for (path, a), (_, b) in zip(multi, single):
        np.testing.assert_array_equal(a, b, err_msg=path)
    assert len(multi) == len(single) and dict(multi)[".step"] == 2


@pytest.mark.slow  # make test-all
def test_sigterm_to_one_process_stops_every_process_at_one_step_with_a_checkpoint(tmp_path, synthetic_npz):
    """JAX's preemption notifier owns SIGTERM after ``jax.distributed.initialize``; the
    processes agree on a step through the sync point, save together and exit 0."""
    port = _free_port()
    flags = _train_flags(
        tmp_path / "run",
        synthetic_npz,
        100_000,
        "--config.log_every=1",
        "--config.sample_every=0",
        "--config.checkpoint_every=100_000",
    )
    runs = [
        _launch(f"process{i}", tmp_path, DEVICES_PER_PROCESS, flags + _distributed_flags(port, i))
        for i in range(PROCESSES)
    ]
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and "] step 3/" not in open(runs[0][2]).read():
        assert all(p.poll() is None for _, p, _ in runs), open(runs[0][2]).read()[-3000:]
        time.sleep(0.2)
    runs[1][1].send_signal(signal.SIGTERM)
    _wait(runs)
    log = open(runs[0][2]).read()
    stopped = int(log.split("stopped at step ")[1].split(" ")[0])
    assert os.listdir(tmp_path / "run" / "checkpoints") == [str(stopped)]
    config = load_config("tiny")
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    manager = checkpoint.make_manager(str(tmp_path / "run"), config)
    state = checkpoint.restore(manager, build.build(config).abstract_state())
    assert int(state.step) == stopped
