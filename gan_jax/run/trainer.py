"""The training loop: `train_and_evaluate(config, workdir)`.

Read top to bottom: build the mesh, the models, the optimizers and the data; restore
the latest intact checkpoint or initialise; then run the compiled step, and on schedule
log metrics, write a sample grid and save a checkpoint. The loop runs at most
`MAX_IN_FLIGHT` steps ahead of the device and fetches values only at log and checkpoint
points, where it takes the metrics accumulated since the last and checks them: a NaN or
Inf stops the run before that state is saved (`check_finite`; or such steps are
skipped, ``nonfinite='skip'``). SIGTERM/SIGINT stop it after the current step with a
checkpoint (`gan_jax.run.preemption`).

Every random number derives from ``config.seed`` through named streams of one root
key (`gan_jax.training.keys.root_keys`): ``init`` (parameters), ``train`` (the step's
noise, folded with the step), ``sample`` (the fixed noise of the sample grids) and
``eval`` (the noise of evaluation samples).
"""

import collections
import contextlib
import dataclasses
import json
import os
from typing import Any, Callable, Iterator

import jax
import ml_collections
import numpy as np

from gan_jax import config as config_lib, parallel
from gan_jax.training import build as build_lib
from gan_jax.run import checkpoint, dataset_check, posthoc_snapshots
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets
from gan_jax.run import finetune
from gan_jax.training import phases as phases_lib
from gan_jax.run import preemption
from gan_jax.training import sample
from gan_jax.run import workdir_lock
from gan_jax.run import writers
from gan_jax.errors import ConfigError, NonFiniteError
from gan_jax.training.keys import sample_noise
from gan_jax.metrics import evaluator
from gan_jax.run import evaluation
from gan_jax.training.state import GANState, count_params

MAX_IN_FLIGHT = 2  # steps dispatched ahead of the one the device is running


def prepare_workdir(workdir: str) -> None:
    """Creates the workdir's folders, failing early if it cannot be written."""
    try:
        os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
        probe = os.path.join(workdir, f".write_test{jax.process_index()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"workdir {workdir!r} is not writable: {e.strerror}") from None


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
    if jax.process_index() == 0:
        tmp = os.path.join(workdir, "config.json.tmp")
        with open(tmp, "w") as f:
            f.write(config_lib.to_json(config))
        os.replace(tmp, os.path.join(workdir, "config.json"))


def check_resume_config(workdir: str, config: ml_collections.ConfigDict) -> None:
    """Compares a resuming start's config with the workdir's config.json: a different seed,
    dataset or model would continue another experiment under the old name, so it is refused
    unless ``resume_changes=True``; every other change (num_steps, learning rates, ...) is
    logged."""
    path = os.path.join(workdir, "config.json")
    try:
        with open(path) as f:
            saved = json.load(f)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        writers.warn(f"{path} is unreadable ({e}); the resumed config cannot be compared with it")
        return
    identity, other = config_lib.resume_differences(saved, config)
    if identity and not config.resume_changes:
        raise ConfigError(
            f"{workdir} was trained with another {identity[0].split(':')[0]} ({identity[0]}"
            f"{f'; {len(identity) - 1} more such change(s)' if len(identity) > 1 else ''}); resuming "
            f"would continue another experiment under its name. Use a new --workdir, or add "
            f"--config.resume_changes=True to resume anyway"
        )
    for line in identity + other:
        writers.log(f"resuming with a changed config: {line}")


def check_finite(fetched: list[dict], first_step: int, manager) -> None:
    """Raises `NonFiniteError` at the first step whose metrics hold a NaN or Inf.

    ``fetched[i]`` holds the metrics of step ``first_step + i`` (1-based, as logged).
    """
    for i, metrics in enumerate(fetched):
        if metrics.get("skipped", 0.0):  # nonfinite='skip' already discarded this step
            continue
        bad = sorted(
            (k for k, v in metrics.items() if not np.all(np.isfinite(v))),
            key=lambda k: not k.endswith("_loss"),
        )  # name a loss first
        if not bad:
            continue
        latest = manager.latest_step()
        kept = (
            f"the last good checkpoint is step {latest} in {manager.directory}"
            if latest is not None
            else "no checkpoint was written yet"
        )
        also = f" (also non-finite: {', '.join(bad[1:])})" if len(bad) > 1 else ""
        raise NonFiniteError(
            f"{bad[0]} is {float(np.asarray(metrics[bad[0]]).ravel()[0])} at step {first_step + i}{also}; "
            f"the run stopped without saving this state and {kept}. Lower the learning rates, "
            f"add grad_clip or a regularizer, or set --config.nonfinite=skip to skip such steps"
        )


def _mean_metrics(fetched: list[dict], lazy: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """Means over the logged interval; steps skipped as non-finite do not count, and a lazy
    phase's metrics (``lazy``: its ``<prefix>_ran`` flag → their names) are averaged over
    the steps it ran, and left out of an interval where it never ran."""
    kept = [m for m in fetched if not m.get("skipped", 0.0)] or fetched
    means = {}
    owner = {name: flag for flag, names in lazy.items() for name in names}
    for k in kept[0]:
        if k == "skipped" or k in lazy:
            continue
        rows = [m for m in kept if m[owner[k]]] if k in owner else kept
        if rows:
            means[k] = float(np.mean([m[k] for m in rows]))
    return means


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> GANState:
    """Trains for ``config.num_steps`` steps in ``workdir``, resuming from its latest checkpoint.

    Returns the final state, or the state at which a SIGTERM/SIGINT stopped the run (after
    writing a checkpoint of it).
    """
    config_lib.validate(config)
    writers.quiet_library_logs()
    preemption.stop_if_requested()  # a stop asked while starting is honoured between these stages
    parallel.maybe_initialize_distributed(config)
    mesh = parallel.create_mesh()
    parallel.check_batch_size(config.batch_size, mesh, config.microbatches)
    run = build_lib.build(config, mesh)
    preemption.stop_if_requested()
    dataset = datasets.load_dataset(config.dataset)
    dataset_check.check_labels(config, dataset)
    preemption.stop_if_requested()
    prepare_workdir(workdir)
    with workdir_lock.hold(workdir):
        return _train(config, workdir, run, mesh, dataset)


def _train(config, workdir, run, mesh, dataset) -> GANState:
    """`train_and_evaluate` once the workdir is prepared and locked. The checkpoint manager
    is closed on every way out, a refused resume included: its background threads must
    finish before the interpreter does."""
    if _has_checkpoints(workdir):
        check_resume_config(workdir, config)  # a refusal comes before any orbax object exists
        dataset_check.check_resume(workdir, config, dataset)
    manager = checkpoint.make_manager(workdir, config)
    try:
        return _train_with(config, workdir, run, mesh, dataset, manager)
    finally:
        with contextlib.suppress(Exception):  # a failed save was already reported
            manager.wait_until_finished()
        manager.close()


@dataclasses.dataclass(frozen=True)
class Steps:
    """What advances the state: the step function (`build.Run.stepper`), the stream of real
    batches, the train key stream, and which metrics only lazy phases write."""

    step_fn: Callable
    stream: Iterator
    train_key: jax.Array
    lazy: dict


@dataclasses.dataclass(frozen=True)
class Outputs:
    """Where the run's results go: the workdir, its checkpoints, its metrics, its sample
    grids, its evaluations and the best checkpoint they pick."""

    workdir: str
    manager: Any
    writer: writers.MetricsWriter
    sampler: Callable
    evaluate: Callable | None = None
    best_manager: Any = None


def _has_checkpoints(workdir: str) -> bool:
    """Whether the workdir holds a checkpoint step folder (the start resumes)."""
    folder = checkpoint.checkpoint_dir(workdir)
    return os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder))


def _start_state(config, workdir: str, run: build_lib.Run, manager) -> GANState:
    """The latest intact checkpoint, or step 0 (fine-tuned from ``init_from`` if set)."""
    if manager.all_steps():
        state = checkpoint.restore_latest(manager, run.abstract_state())
        writers.log(f"resumed from checkpoint at step {int(state.step)} in {manager.directory}")
        return state
    state = finetune.initial_state(run, config, run.init_state())
    if config.init_from:
        writers.log(
            f"fine-tuning from {config.init_from}: G, D, EMA"
            f"{' and optimizers' if config.init_optimizer else ''} taken; step 0"
            f"{f', D blocks 1-{config.freeze_d} frozen' if config.freeze_d else ''}"
        )
    return state


def _describe(config, run: build_lib.Run, state: GANState, mesh, dataset, start_step: int) -> None:
    """The run's opening lines: what resumes, on what, with which networks and phases."""
    if start_step >= config.num_steps:
        writers.log(
            f"nothing to train: the checkpoint is at step {start_step} and "
            f"num_steps={config.num_steps}; raise --config.num_steps to continue"
        )
    writers.log(
        f"devices: {mesh.devices.size} x {jax.devices()[0].device_kind} over "
        f"{jax.process_count()} process(es); data: {dataset.description}, "
        f"{len(dataset)} examples, {dataset.num_classes} classes"
    )
    writers.log(f"G: {count_params(state.g_params):,} params, D: {count_params(state.d_params):,} params")
    writers.log(
        "phases: "
        + "; ".join(f"{p.name} every {p.every}: {', '.join(t.name for t in p.terms)}" for p in run.phases)
    )


def _train_with(config, workdir, run, mesh, dataset, manager) -> GANState:
    state = _start_state(config, workdir, run, manager)
    preemption.stop_if_requested()
    write_config(workdir, config)  # only now: a refused checkpoint leaves the workdir as it was
    dataset_check.write(workdir, dataset)
    start_step = int(jax.device_get(state.step))
    _describe(config, run, state, mesh, dataset, start_step)
    skipped_before = _skipped_steps(state)
    evaluate = evaluation.make_evaluation(config, run.generator()) if config.eval_every else None
    preemption.stop_if_requested()
    out = Outputs(
        workdir,
        manager,
        writers.MetricsWriter(workdir, start_step, config),
        make_grid_sampler(run),
        evaluate,
        checkpoint.make_best_manager(workdir) if evaluate else None,
    )
    stream = data.batches(dataset, config, mesh, start_step, config.num_steps)
    steps = Steps(run.stepper(), stream, run.keys["train"], phases_lib.lazy_metrics(run.phases))
    try:
        with preemption.stop_requests() as should_stop:
            state = _loop(config, state, steps, out, should_stop)
        checkpoint.wait(manager)
    finally:
        stream.close()
        if out.best_manager:
            out.best_manager.close()
        out.writer.close()
    _report_skipped(state, start_step, skipped_before)
    return state


def _skipped_steps(state: GANState) -> int:
    """Steps discarded as non-finite so far (``nonfinite='skip'``; 0 otherwise)."""
    if "nonfinite" not in state.aux:
        return 0
    return int(jax.device_get(state.aux["nonfinite"]["skipped_steps"]))


def _report_skipped(state: GANState, start_step: int, before: int) -> None:
    """With ``nonfinite='skip'``: a warning when steps were skipped, an error when every step
    of this invocation was (the networks learnt nothing)."""
    ran = int(jax.device_get(state.step)) - start_step
    skipped = _skipped_steps(state) - before
    if not skipped:
        return
    if skipped >= ran:
        raise NonFiniteError(
            f"every one of the {ran} steps of this run was skipped as non-finite "
            f"(nonfinite=skip): the networks did not change. Lower the learning "
            f"rates, add grad_clip or a regularizer, or check the data"
        )
    writers.warn(f"{skipped} of {ran} steps were skipped as non-finite (nonfinite=skip)")


def _log(config, state: GANState, done: int, fetched: list[dict], lazy: dict, progress, writer) -> None:
    """The mean metrics since the last log, to metrics.jsonl, TensorBoard and the progress line."""
    values = {**_mean_metrics(fetched, lazy), **progress.update(done)}
    if config.nonfinite == "skip":
        values["skipped_steps"] = float(jax.device_get(state.aux["nonfinite"]["skipped_steps"]))
    writer.scalars(done, values)
    writers.log(progress.line(done, values))


def _on_schedule(config, state: GANState, done: int, save: bool, out: Outputs) -> None:
    """A sample grid, a checkpoint and an evaluation, each when due (all at the last step)."""
    last = done == config.num_steps
    if (config.sample_every and done % config.sample_every == 0) or last:
        write_samples(out.workdir, done, out.sampler(state), out.writer)
    if save:
        checkpoint.save(out.manager, state, config)
    if posthoc_snapshots.due(config, done):
        posthoc_snapshots.write(out.workdir, state, config)
    if out.evaluate and (done % config.eval_every == 0 or last):
        run_evaluation(config, out.workdir, state, out.evaluate, out.writer, out.best_manager)


def _loop(
    config, state: GANState, steps: Steps, out: Outputs, should_stop: Callable[[int], bool]
) -> GANState:
    """Steps ``state.step + 1 .. num_steps``; on schedule: log, sample, checkpoint, evaluate."""
    start_step = int(jax.device_get(state.step))
    progress = writers.Progress(start_step, config.num_steps, config.batch_size)
    pending: list[dict] = []  # metrics of the steps since the last log, still on device
    in_flight: collections.deque = collections.deque()  # one output of each step not yet waited for
    for step, batch in zip(range(start_step, config.num_steps), steps.stream):
        state, metrics = steps.step_fn(state, batch, steps.train_key, step)
        pending.append(metrics)
        # Dispatch runs ahead of the device; keeping it at most MAX_IN_FLIGHT steps ahead
        # still overlaps host and device work, and bounds how long a stop request waits.
        in_flight.append(metrics["g_loss"])
        if len(in_flight) > MAX_IN_FLIGHT:
            in_flight.popleft().block_until_ready()
        done = step + 1
        last, stop = done == config.num_steps, should_stop(done)
        save = done % config.checkpoint_every == 0 or last or stop
        if done % config.log_every == 0 or last or stop or save:
            fetched = jax.device_get(pending)  # a state is saved only once its metrics are finite
            check_finite(fetched, done - len(pending) + 1, out.manager)
            if done % config.log_every == 0 or last or stop:
                _log(config, state, done, fetched, steps.lazy, progress, out.writer)
                pending = []
        with progress.paused():
            _on_schedule(config, state, done, save, out)
        if stop and not last:
            checkpoint.wait(out.manager)
            writers.log(
                f"stopped at step {done} on request; checkpoint written in {out.manager.directory}. "
                f"Run the same command to resume"
            )
            break
    return state


def run_evaluation(config, workdir: str, state: GANState, evaluate, writer, best_manager) -> dict:
    """Computes eval.metrics on the EMA generator, logs them, and keeps the best checkpoint."""
    results = evaluate(state.ema_params, state.g_vars)
    step = int(jax.device_get(state.step))
    writer.eval_results(step, results)
    writers.log(f"eval at step {step}: " + ", ".join(f"{k} {v['value']:.5g}" for k, v in results.items()))
    key = config.eval.best_metric or next(iter(results))
    if key not in results:
        raise ConfigError(f"eval.best_metric={key!r} is not among the results {sorted(results)}")
    if checkpoint.maybe_save_best(
        best_manager, workdir, state, config, key, results[key]["value"], evaluator.higher_is_better(key)
    ):
        writers.log(f"new best {key} {results[key]['value']:.5g} at step {step}")
    return results


def make_grid_sampler(run: build_lib.Run):
    """``state -> (uint8 images, grid rows)`` of the EMA generator on the run's fixed noise;
    conditional models get one row per class, the same noise down each column."""
    config = run.config
    z_key, _ = jax.random.split(run.keys["sample"])
    z, labels, rows = sample.class_grid_inputs(
        sample_noise(z_key, config.sample.num_images, config.model.z_dim), config.model.num_classes
    )
    sampler = run.sampler()
    return lambda state: (
        sample.to_uint8(jax.device_get(sampler(state.ema_params, state.g_vars, z, labels))),
        rows or None,
    )


def write_samples(
    workdir: str, step: int, images_and_rows: tuple[np.ndarray, int | None], writer: writers.MetricsWriter
) -> str:
    images, rows = images_and_rows
    grid = sample.make_grid(images, rows=rows)
    path = os.path.join(workdir, "samples", f"step_{step:07d}.png")
    if jax.process_index() == 0:
        sample.save_png(grid, path)
        writer.image(step, "samples/ema", grid)
    return path
