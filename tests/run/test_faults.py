"""Faults a long run meets: kills, preemption, damaged checkpoints, failed saves, NaNs, bad input.

The subprocess tests run ``train.py`` on 2 fake CPU devices and share one persistent
compilation cache, so a restarted process skips compiling the step. It is theirs alone, not
the suite's (tests/conftest.py): a process killed while it writes an entry leaves that entry
cut short, and only these tests should meet it.
"""

import dataclasses
import glob
import hashlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from gan_jax import parallel
from gan_jax.training import build
from gan_jax.run import checkpoint
from gan_jax.run import loading as runs
from gan_jax.training import train_step
from gan_jax.errors import CheckpointError, NonFiniteError
from gan_jax.run.trainer import train_and_evaluate

KILLS = int(os.environ.get("GAN_JAX_TEST_KILLS", "10"))


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("jax_cache"))


def _command(workdir, synthetic_npz, *overrides) -> list[str]:
    return [
        sys.executable,
        os.path.join(REPO, "train.py"),
        "--config",
        os.path.join(REPO, "configs", "tiny.py"),
        "--workdir",
        str(workdir),
        "--config.dataset.source=npz",
        f"--config.dataset.path={synthetic_npz}",
        *overrides,
    ]


def _env(cache: str | None = None) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    if cache:
        env.update(
            JAX_COMPILATION_CACHE_DIR=cache,
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    return env


def _run(cmd, env, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, **kw)


def _abstract(config, mesh=None):
    return build.build(config, mesh or parallel.create_mesh()).abstract_state()


def _restore(workdir, config, step=None):
    return checkpoint.restore(checkpoint.make_manager(str(workdir), config), _abstract(config), step)


def _assert_bit_identical(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _committed(workdir) -> list[int]:
    """Steps of the complete checkpoints in a workdir, oldest first."""
    folder = os.path.join(workdir, "checkpoints")
    return sorted(int(n) for n in os.listdir(folder) if n.isdigit()) if os.path.isdir(folder) else []


def _progress_steps(stream):
    """Yields the step number of each progress line a training process writes."""
    for line in stream:
        if "] step " in line:
            yield int(line.split("] step ")[1].split("/")[0])


# ----------------------------------------------------------------------------
# Kills and preemption


def test_sigkill_at_random_steps_then_resume_is_bit_identical(
    tiny_config, synthetic_npz, tmp_path, compile_cache
):
    """SIGKILL at random moments (mid-step, mid-save, mid-log) never costs more than the
    steps since the last checkpoint, and the run finishes bit for bit as an uninterrupted one."""
    args = [
        "--config.num_steps=40",
        "--config.checkpoint_every=2",
        "--config.log_every=1",
        "--config.sample_every=0",
    ]
    env = _env(compile_cache)
    straight = _run(_command(tmp_path / "straight", synthetic_npz, *args), env)
    assert straight.returncode == 0, straight.stderr[-2000:]

    rng, workdir, kills, start = random.Random(0), tmp_path / "killed", [], time.perf_counter()
    kept = None
    while len(kills) < KILLS:
        proc = subprocess.Popen(
            _command(workdir, synthetic_npz, *args),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        resumed, target, seen = None, None, None
        for line in proc.stderr:
            if "resumed from checkpoint at step " in line:
                resumed = int(line.split("at step ")[1].split(" ")[0])
            if "] step " not in line:
                continue
            seen = int(line.split("] step ")[1].split("/")[0])
            # Once this process has completed a checkpoint of its own, kill it a random
            # number of steps and milliseconds later: mid-step, mid-log or mid-save.
            if target is None and (_committed(workdir) or [-1])[-1] > (kept or -1):
                target = seen + rng.randint(0, 3)
            if (target is not None and seen >= target) or seen >= 38:
                break
        time.sleep(rng.uniform(0.0, 0.03))
        proc.kill()
        proc.wait()
        proc.stderr.close()
        assert resumed == kept, f"resumed from {resumed}, the last complete checkpoint was {kept}"
        kept = (_committed(workdir) or [None])[-1]
        kills.append((seen, kept))
    final = _run(_command(workdir, synthetic_npz, *args), env)
    assert final.returncode == 0, final.stderr[-2000:]
    print(
        f"{KILLS} kills (last step logged, newest complete checkpoint): {kills}; "
        f"{time.perf_counter() - start:.1f} s"
    )
    assert len({k for _, k in kills}) >= KILLS // 2  # the run made progress between kills

    tiny_config.num_steps = 40
    _assert_bit_identical(_restore(tmp_path / "straight", tiny_config), _restore(workdir, tiny_config))
    losses = lambda wd: [(r.split('"d_loss": ')[1].split(",")[0]) for r in open(wd / "metrics.jsonl")]  # noqa: E731
    assert losses(workdir) == losses(tmp_path / "straight")  # one line per step, same values


# A run that goes on until it is stopped, checkpointing only when it is.
ENDLESS = [
    "--config.num_steps=100000",
    "--config.checkpoint_every=100000",
    "--config.log_every=1",
    "--config.sample_every=0",
]


def _signal_at_step(workdir, synthetic_npz, cache, step: int, signum: int, *extra) -> subprocess.Popen:
    """Starts an endless run and sends ``signum`` once it has logged ``step``."""
    proc = subprocess.Popen(
        _command(workdir, synthetic_npz, *ENDLESS, *extra),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=_env(cache),
    )
    for seen in _progress_steps(proc.stderr):
        if seen >= step:
            proc.send_signal(signum)
            break
    return proc


def test_sigterm_finishes_the_step_writes_a_checkpoint_and_exits_0(synthetic_npz, tmp_path, compile_cache):
    proc = _signal_at_step(tmp_path, synthetic_npz, compile_cache, 3, signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, rest[-2000:]
    stopped = int(rest.split("stopped at step ")[1].split(" ")[0])
    assert stopped >= 3 and os.listdir(tmp_path / "checkpoints") == [str(stopped)]
    assert "received SIGTERM" in rest
    # The same command resumes there.
    again = _run(
        _command(tmp_path, synthetic_npz, *ENDLESS[1:], f"--config.num_steps={stopped + 2}"),
        _env(compile_cache),
    )
    assert again.returncode == 0 and f"resumed from checkpoint at step {stopped}" in again.stderr


def test_a_second_signal_aborts_at_once(synthetic_npz, tmp_path, compile_cache):
    """The second SIGINT lands while the first one's checkpoint is being written (a wider
    model makes that save take long enough) and ends the process by the signal."""
    proc = _signal_at_step(
        tmp_path,
        synthetic_npz,
        compile_cache,
        2,
        signal.SIGINT,
        "--config.model.dcgan.g_width=128",
        "--config.model.dcgan.d_width=128",
    )
    for line in proc.stderr:
        if "received SIGINT" in line:
            proc.send_signal(signal.SIGINT)
            break
    proc.stderr.read()
    assert proc.wait(timeout=120) == -signal.SIGINT


# ----------------------------------------------------------------------------
# Damaged checkpoints and failed saves


def _largest_file(folder) -> str:
    return max(
        (p for p in glob.glob(f"{folder}/**", recursive=True) if os.path.isfile(p)), key=os.path.getsize
    )


@pytest.mark.slow  # make test-all
def test_truncated_checkpoint_is_skipped_and_the_previous_one_used(tiny_config, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    tiny_config.num_steps, tiny_config.checkpoint_every = 6, 2
    straight = train_and_evaluate(tiny_config, str(tmp_path / "straight"))
    tiny_config.num_steps = 4
    train_and_evaluate(tiny_config, str(tmp_path / "run"))
    victim = _largest_file(tmp_path / "run" / "checkpoints" / "4")
    with open(victim, "r+b") as f:
        f.truncate(os.path.getsize(victim) // 2)
    tiny_config.num_steps = 6
    resumed = train_and_evaluate(tiny_config, str(tmp_path / "run"))
    skipped = [r.getMessage() for r in caplog.records if "is skipped" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].startswith("checkpoint 4 in") and "bytes" in skipped[0]
    assert any("resumed from checkpoint at step 2" in r.getMessage() for r in caplog.records)
    _assert_bit_identical(straight, resumed)


def test_changed_bytes_are_detected_and_an_all_damaged_workdir_is_an_error(tiny_config, tmp_path):
    tiny_config.num_steps, tiny_config.checkpoint_every = 4, 2
    train_and_evaluate(tiny_config, str(tmp_path))
    for step in ("2", "4"):
        victim = _largest_file(tmp_path / "checkpoints" / step)
        data = bytearray(open(victim, "rb").read())
        data[len(data) // 2] ^= 0xFF  # same size, one byte changed
        open(victim, "wb").write(bytes(data))
        assert "differs from what was written" in checkpoint.verify(str(tmp_path / "checkpoints" / step))
    tiny_config.num_steps = 6
    with pytest.raises(
        CheckpointError, match=r"no usable checkpoint in .*\(damaged: 4, 2\); move that folder"
    ):
        train_and_evaluate(tiny_config, str(tmp_path))


def test_an_unfinished_save_is_ignored_and_cleaned_up(tiny_config, tmp_path):
    tiny_config.num_steps, tiny_config.checkpoint_every = 2, 2
    train_and_evaluate(tiny_config, str(tmp_path))
    partial = tmp_path / "checkpoints" / "4.orbax-checkpoint-tmp"
    os.makedirs(partial / "state")
    (partial / "state" / "half_written").write_bytes(b"\0" * 100)
    tiny_config.num_steps = 3
    state = train_and_evaluate(tiny_config, str(tmp_path))
    assert int(state.step) == 3 and not partial.exists()
    assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["2", "3"]


def _with_file_size_limit(kib: int, cmd: list[str]) -> list[str]:
    """``cmd`` under a file-size limit; writes past it fail with EFBIG (SIGXFSZ ignored)."""
    return ["bash", "-c", f"trap '' XFSZ; ulimit -f {kib}; exec \"$@\"", "bash", *cmd]


@pytest.mark.slow  # make test-all
def test_a_failed_save_keeps_the_last_good_checkpoint(tiny_config, synthetic_npz, tmp_path):
    """A save that cannot be written (here: a file-size limit, as a full disk would) stops the
    run with one line naming the checkpoint it will resume from, which stays intact."""
    args = ["--config.checkpoint_every=2", "--config.sample_every=0"]
    assert _run(_command(tmp_path, synthetic_npz, *args, "--config.num_steps=2"), _env()).returncode == 0
    failed = _run(
        _with_file_size_limit(50, _command(tmp_path, synthetic_npz, *args, "--config.num_steps=4")), _env()
    )
    assert failed.returncode == 2
    # Orbax's writer threads log their own traceback; the run's verdict is one line.
    errors = [l for l in failed.stderr.splitlines() if l.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: writing a checkpoint in")
    assert "checkpoint 2 is intact and the run resumes from it" in errors[0]
    # The operating system's reason, when tensorstore's message carries it (it names the
    # file it failed on otherwise).
    assert "failed (File too large)" in errors[0] or "Failed writing" in errors[0], errors[0]
    assert checkpoint.verify(str(tmp_path / "checkpoints" / "2")) is None
    assert not os.path.exists(tmp_path / "checkpoints" / "4")
    assert _run(_command(tmp_path, synthetic_npz, *args, "--config.num_steps=4"), _env()).returncode == 0
    tiny_config.num_steps = 4
    assert int(_restore(tmp_path, tiny_config).step) == 4


# ----------------------------------------------------------------------------
# Non-finite values


def _poison_real_images_at(monkeypatch, bad_step: int):
    """Makes step ``bad_step`` (0-based) see a NaN real batch, as a corrupt input would."""
    run_phase = train_step.run_phase

    def poisoned(phase, models, tx, state, inputs, *options):
        if phase.network == "d":
            inputs = dataclasses.replace(inputs, real=jnp.where(state.step == bad_step, jnp.nan, inputs.real))
        return run_phase(phase, models, tx, state, inputs, *options)

    monkeypatch.setattr(train_step, "run_phase", poisoned)


def test_nonfinite_loss_stops_naming_step_and_quantity(tiny_config, tmp_path, monkeypatch):
    _poison_real_images_at(monkeypatch, 4)
    tiny_config.num_steps, tiny_config.checkpoint_every, tiny_config.log_every = 8, 2, 4
    with pytest.raises(
        NonFiniteError,
        match=r"^d_loss is nan at step 5 \(also non-finite: .*d_grad_norm.*\); "
        r"the run stopped without saving this state and the last good "
        r"checkpoint is step 4 in .*nonfinite=skip",
    ):
        train_and_evaluate(tiny_config, str(tmp_path))
    assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["2", "4"]
    state = _restore(tmp_path, tiny_config)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.g_params))


def test_nonfinite_skip_leaves_the_state_as_it_was_and_counts(tiny_config, tmp_path, monkeypatch):
    """5 steps with step 5 poisoned end where 4 clean steps do (the same program, poisoned at
    a step it never reaches, so rounding is the same), with the step counted."""
    tiny_config.nonfinite, tiny_config.log_every = "skip", 1
    with monkeypatch.context() as m:
        _poison_real_images_at(m, 10**6)
        tiny_config.num_steps = 4
        clean = train_and_evaluate(tiny_config, str(tmp_path / "clean"))
    _poison_real_images_at(monkeypatch, 4)
    tiny_config.num_steps = 5
    skipped = train_and_evaluate(tiny_config, str(tmp_path / "skipped"))
    assert int(skipped.step) == 5 and float(skipped.aux["nonfinite"]["skipped_steps"]) == 1.0
    assert float(clean.aux["nonfinite"]["skipped_steps"]) == 0.0
    for name in ("g_params", "d_params", "g_vars", "d_vars", "g_opt_state", "d_opt_state", "ema_params"):
        _assert_bit_identical(getattr(clean, name), getattr(skipped, name))
    last = open(tmp_path / "skipped" / "metrics.jsonl").read().splitlines()[-1]
    assert '"step": 5' in last and '"skipped_steps": 1.0' in last


# ----------------------------------------------------------------------------
# Bad input: one line, status 2, nothing written over


def _snapshot(folder) -> dict[str, str]:
    out = {}
    for path in glob.glob(f"{folder}/**", recursive=True):
        if os.path.isfile(path):
            out[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory, synthetic_npz, compile_cache) -> str:
    workdir = tmp_path_factory.mktemp("trained")
    done = _run(_command(workdir, synthetic_npz, "--config.num_steps=2"), _env(compile_cache))
    assert done.returncode == 0, done.stderr[-2000:]
    return str(workdir)


def _image_folder(root, corrupt: bool):
    os.makedirs(root)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / f"{i}.png")
    if corrupt:
        (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    return str(root)


BAD_INPUTS = {
    "unknown field": (["--config.modle.z_dim=3"], "unknown config field 'modle.z_dim'"),
    "ill-typed field": (["--config.num_steps=ten"], "num_steps"),
    "impossible resolution": (["--config.dataset.resolution=30"], "resolution"),
    "batch not divisible": (
        ["--config.batch_size=15"],
        "batch_size=15 must be a positive multiple of the 2 devices",
    ),
    "missing dataset": (
        ["--config.dataset.source=tfds", "--config.dataset.name=no_such_dataset"],
        "tfds has no dataset named 'no_such_dataset'",
    ),
    "empty image folder": (["--config.dataset.source=folder", "--config.dataset.path={empty}"], "no images"),
    "corrupt image": (
        ["--config.dataset.source=folder", "--config.dataset.path={corrupt}"],
        "cannot decode image",
    ),
    "another model": (
        ["--config.model.dcgan.g_width=16"],
        "was trained with another model.dcgan.g_width (model.dcgan.g_width: 8 -> 16)",
    ),
    "incompatible checkpoint": (
        ["--config.model.dcgan.g_width=16", "--config.resume_changes=True"],
        "was written by a different model: g_params/BatchNorm_0/bias is float32[16]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_status_2_and_nothing_is_written_over(
    case, trained_workdir, synthetic_npz, tmp_path, compile_cache
):
    overrides, message = BAD_INPUTS[case]
    folders = {"empty": str(tmp_path / "empty"), "corrupt": _image_folder(tmp_path / "corrupt", True)}
    os.makedirs(folders["empty"])
    before = _snapshot(trained_workdir)
    result = _run(
        _command(trained_workdir, synthetic_npz, *[o.format(**folders) for o in overrides]),
        _env(compile_cache),
    )
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, last
    assert not any(l.startswith("Traceback") for l in result.stderr.splitlines())
    assert _snapshot(trained_workdir) == before


def test_unwritable_workdir_is_one_line_status_2(synthetic_npz, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    result = _run(_command(tmp_path / "a_file" / "run", synthetic_npz), _env())
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1].startswith("error: workdir")
        and "not writable" in result.stderr
    )


def test_a_damaged_checkpoint_is_moved_aside_and_its_step_saved_again(tiny_config, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    tiny_config.num_steps, tiny_config.checkpoint_every = 4, 2
    train_and_evaluate(tiny_config, str(tmp_path))
    victim = _largest_file(tmp_path / "checkpoints" / "4")
    data = bytearray(open(victim, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(victim, "wb").write(bytes(data))
    state = train_and_evaluate(tiny_config, str(tmp_path))  # resumes at 2, retrains to 4
    assert int(state.step) == 4
    moved = os.listdir(tmp_path / "damaged_checkpoints")
    assert len(moved) == 1 and moved[0].startswith("4.")
    assert _committed(tmp_path) == [2, 4] and checkpoint.verify(str(tmp_path / "checkpoints" / "4")) is None
    assert any("damaged checkpoint 4 moved to" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("damage", ["empty", "no_metadata"])
def test_an_empty_or_half_copied_checkpoint_is_damaged_not_a_traceback(tiny_config, tmp_path, damage):
    tiny_config.num_steps, tiny_config.checkpoint_every = 2, 2
    train_and_evaluate(tiny_config, str(tmp_path))
    folder = tmp_path / "checkpoints" / "6"
    if damage == "empty":
        os.makedirs(folder)
    else:  # a copy that stopped before the metadata: the state's data files only
        import shutil

        shutil.copytree(tmp_path / "checkpoints" / "2", folder)
        for rel in (checkpoint.MANIFEST, "_CHECKPOINT_METADATA", "state/_METADATA", "state/manifest.ocdbt"):
            os.remove(folder / rel)
    config = tiny_config
    with pytest.raises(CheckpointError, match="checkpoint 6 in .* is (incomplete|unreadable)"):
        checkpoint.restore(checkpoint.make_manager(str(tmp_path), config), _abstract(config), 6)
    # runs.load_checkpoint reads the config saved in the folder first
    with pytest.raises(CheckpointError, match="checkpoint 6 in .* is incomplete or unreadable"):
        runs.load_checkpoint(str(tmp_path), "6")
    config.num_steps = 3
    state = train_and_evaluate(config, str(tmp_path))
    assert int(state.step) == 3
    assert [n.split(".")[0] for n in os.listdir(tmp_path / "damaged_checkpoints")] == ["6"]


def test_a_checkpoint_without_manifest_is_restored_with_a_warning(tiny_config, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    tiny_config.num_steps, tiny_config.checkpoint_every = 2, 2
    train_and_evaluate(tiny_config, str(tmp_path))
    os.remove(tmp_path / "checkpoints" / "2" / checkpoint.MANIFEST)
    tiny_config.num_steps = 3
    assert int(train_and_evaluate(tiny_config, str(tmp_path)).step) == 3
    assert any("has no gan_jax_manifest.json" in r.getMessage() for r in caplog.records)


def test_a_second_training_process_on_a_workdir_is_refused(synthetic_npz, tmp_path, compile_cache):
    from gan_jax.run import workdir_lock

    os.makedirs(tmp_path / "samples")
    with workdir_lock.hold(str(tmp_path)):  # this test process is the running trainer
        done = _run(_command(tmp_path, synthetic_npz), _env(compile_cache))
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: workdir") and f"pid {os.getpid()}" in last and "in use" in last
    assert "Traceback" not in done.stderr and not os.path.exists(tmp_path / "checkpoints")
    # A lock left by a process that died (kill -9 leaves the file, the OS drops the lock).
    with open(tmp_path / workdir_lock.LOCK, "w") as f:
        f.write('{"pid": 999999, "host": "gone", "started": "2026-01-01T00:00:00"}')
    done = _run(_command(tmp_path, synthetic_npz), _env(compile_cache))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "took over the lock" in done.stderr and "pid 999999 on gone" in done.stderr


def test_nonfinite_skip_on_every_step_is_an_error(tiny_config, tmp_path, monkeypatch):
    run_phase = train_step.run_phase

    def always_nan(phase, models, tx, state, inputs, *options):
        if phase.network == "d":
            inputs = dataclasses.replace(inputs, real=inputs.real * jnp.nan)
        return run_phase(phase, models, tx, state, inputs, *options)

    monkeypatch.setattr(train_step, "run_phase", always_nan)
    tiny_config.nonfinite, tiny_config.num_steps = "skip", 3
    with pytest.raises(NonFiniteError, match="every one of the 3 steps of this run was skipped"):
        train_and_evaluate(tiny_config, str(tmp_path))


def test_empty_cache_variable_and_empty_workdir(monkeypatch, synthetic_npz, tmp_path):
    from gan_jax.metrics import evaluator

    monkeypatch.setenv("GAN_JAX_CACHE", "")
    assert evaluator.default_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "gan_jax")
    done = _run(_command("", synthetic_npz), _env(), cwd=str(tmp_path))
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(
        "error: both --config and --workdir are required"
    )
    assert os.listdir(tmp_path) == []


def test_a_damaged_metrics_log_never_stops_a_resume(tiny_config, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    tiny_config.num_steps, tiny_config.checkpoint_every, tiny_config.log_every = 4, 4, 2
    train_and_evaluate(tiny_config, str(tmp_path))
    log = tmp_path / "metrics.jsonl"
    good = log.read_bytes()
    log.write_bytes(good + b'\xff\xfe not utf-8\n[1, 2]\n{"step": "x"}\n7\n{"step": 9, "d_lo')
    tiny_config.num_steps = 6
    train_and_evaluate(tiny_config, str(tmp_path))
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [2, 4, 6]
    assert (tmp_path / "metrics.jsonl.damaged").read_bytes().count(b"\n") == 4
    assert any("4 damaged line(s)" in r.getMessage() for r in caplog.records)
