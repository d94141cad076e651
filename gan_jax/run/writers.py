"""Where a run reports: ``metrics.jsonl``, TensorBoard, optionally Weights & Biases, and a
progress line.

Only process 0 writes. On resume, `MetricsWriter` drops the ``metrics.jsonl`` lines
of steps past the restored checkpoint (they were logged by the interrupted run and
are about to be logged again), so the file stays one line per logged step.

TensorBoard (``<workdir>/tensorboard``) gets every scalar, the evaluation results, the
sample grids and, at each start, the config as text. A fresh run also writes its
hyperparameters for the HPARAMS tab (`gan_jax.run.hparams`). Each start opens its event file
with ``purge_step``: TensorBoard hides the events an interrupted run wrote past the
checkpoint, so replayed steps show once. With ``config.wandb.enabled`` the same values go to
Weights & Biases (`gan_jax.run.wandb_writer`).
"""

import contextlib
import json
import logging as py_logging
import math
import os
import time

import jax
import ml_collections
import numpy as np
from absl import logging

from gan_jax import config as config_lib


class MetricsWriter:
    """The run's scalars, evaluation results and sample grids, to every destination.

    ``resume_step``: the step of the restored checkpoint (0: a fresh start). ``config``
    (optional) adds the config text, the hparams and, when enabled, wandb.
    """

    def __init__(self, workdir: str, resume_step: int, config: ml_collections.ConfigDict | None = None):
        self.enabled = jax.process_index() == 0
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = self._wandb = None
        if not self.enabled:
            return
        _truncate_jsonl(self.path, resume_step)
        from tensorboardX import SummaryWriter  # imported here: only process 0 needs it

        from gan_jax.run import hparams  # tensorboardX's protocol buffers

        # TensorBoard drops the earlier events at steps >= purge_step: after a resume those
        # past the checkpoint, after a fresh start all (a start that never saved a checkpoint).
        # The suffix keeps two starts within a second in two files, in the order they started.
        first = resume_step + 1 if resume_step else 0
        self._tb = SummaryWriter(
            logdir=os.path.join(workdir, "tensorboard"),
            flush_secs=30,
            purge_step=first,
            filename_suffix=f".{time.time_ns()}",
        )
        if config is None:
            return
        self._tb.add_text("config", f"```json\n{config_lib.to_json(config)}\n```", first)
        if not resume_step:
            for summary in hparams.summaries(config):
                self._tb.file_writer.add_summary(summary, first)
        if config.wandb.enabled:
            from gan_jax.run import wandb_writer  # imports wandb

            self._wandb = wandb_writer.WandbWriter(config, workdir, resume_step)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _jsonable(v) for k, v in values.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        for key, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.scalars(step, values)

    def eval_results(self, step: int, results: dict[str, dict]) -> None:
        """Evaluation results go to ``eval.jsonl`` (with their protocols) and TensorBoard."""
        if not self.enabled:
            return
        with open(os.path.join(os.path.dirname(self.path), "eval.jsonl"), "a") as f:
            f.write(json.dumps({"step": int(step), "results": results}) + "\n")
        for key, result in results.items():
            self._tb.add_scalar(f"eval/{key}", result["value"], step)
        if self._wandb is not None:
            self._wandb.eval_results(step, results)

    def image(self, step: int, tag: str, image: np.ndarray) -> None:
        """``image``: (H, W, C) uint8."""
        if self.enabled:
            self._tb.add_image(tag, image, step, dataformats="HWC")
        if self._wandb is not None:
            self._wandb.image(step, tag, image)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
        if self._wandb is not None:
            self._wandb.close()
            self._wandb = None


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/Inf
    return v


def _truncate_jsonl(path: str, resume_step: int) -> None:
    """Keeps the records of steps up to ``resume_step``. Lines that are not a record (bytes
    that are not UTF-8, JSON that is not an object with an integer step) never stop a
    resume: they are appended to ``<path>.damaged`` with a warning. A last line without its
    newline, cut short by a crash, is dropped silently."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines.pop()  # a write the crash cut short
    keep, bad = [], []
    for raw in lines:
        try:
            record = json.loads(raw.decode("utf-8"))
            step = record.get("step") if isinstance(record, dict) else None
        except (UnicodeDecodeError, ValueError):
            step = None
        if isinstance(step, int) and not isinstance(step, bool):
            if step <= resume_step:
                keep.append(raw)
        elif raw.strip():
            bad.append(raw)
    if bad:
        with open(path + ".damaged", "ab") as f:
            f.writelines(bad)
        warn(
            f"{len(bad)} damaged line(s) of {path} set aside in {path}.damaged; the log keeps "
            f"its {len(keep)} good records up to step {resume_step}"
        )
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.writelines(keep)
    os.replace(tmp, path)


class Progress:
    """Training throughput and ETA between log points.

    Time spent inside `paused()` (sample grids, checkpoints) is left out, so steps/s
    measures training alone; the first interval includes the step's compilation.
    """

    def __init__(self, start_step: int, num_steps: int, batch_size: int):
        self.num_steps, self.batch_size = num_steps, batch_size
        self._last_step, self._last_time, self._paused = start_step, time.perf_counter(), 0.0

    @contextlib.contextmanager
    def paused(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - start

    def update(self, step: int) -> dict[str, float]:
        now = time.perf_counter()
        elapsed = now - self._last_time - self._paused
        steps_per_sec = (step - self._last_step) / max(elapsed, 1e-9)
        self._last_step, self._last_time, self._paused = step, now, 0.0
        return {
            "steps_per_sec": steps_per_sec,
            "images_per_sec": steps_per_sec * self.batch_size,
            "eta_sec": (self.num_steps - step) / max(steps_per_sec, 1e-9),
        }

    def line(self, step: int, metrics: dict[str, float]) -> str:
        eta = metrics["eta_sec"]
        return (
            f"step {step}/{self.num_steps} | d_loss {metrics['d_loss']:.4f} "
            f"g_loss {metrics['g_loss']:.4f} | D(real) {metrics['d_real']:+.3f} "
            f"D(fake) {metrics['d_fake']:+.3f} | {metrics['steps_per_sec']:.2f} steps/s "
            f"{metrics['images_per_sec']:.0f} img/s | ETA {int(eta // 60)}m{int(eta % 60):02d}s"
        )


_CHATTY = (
    f"{os.sep}orbax{os.sep}",
    f"{os.sep}tensorflow_datasets{os.sep}",
    f"{os.sep}jax{os.sep}_src{os.sep}xla_bridge.py",
)


def _not_chatty(record: py_logging.LogRecord) -> bool:
    return record.levelno >= py_logging.WARNING or not any(p in record.pathname for p in _CHATTY)


def quiet_library_logs() -> None:
    """Keeps library INFO lines (orbax logs dozens per checkpoint) out of the run's log."""
    for handler in py_logging.getLogger().handlers:  # absl's handler sits on the root logger
        if _not_chatty not in handler.filters:
            handler.addFilter(_not_chatty)


def log(message: str) -> None:
    if jax.process_index() == 0:
        logging.info(message)


def warn(message: str) -> None:
    if jax.process_index() == 0:
        logging.warning(message)
