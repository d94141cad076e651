"""Orbax checkpoints of the `GANState`, one folder per step under ``workdir/checkpoints``.

Each checkpoint holds the whole state (both networks, their collections, both optimizer
states, the EMA generator, ADA's p and the other training scalars, the step) and the
config it was trained with. The data order and every random number derive from
(seed, step), so the state is all a run needs to continue exactly where it stopped.
Restoring reads straight into the shardings of the current mesh, so a run may resume
on a different device count.

Safety, from writing to reading:

- Atomic: orbax writes a step into ``<step>.orbax-checkpoint-tmp`` and renames it only
  when complete, so a crash or a full disk during a save leaves the previous
  checkpoints untouched; leftover temporary folders are removed at start-up.
- Verified: before that rename, a manifest (`MANIFEST`: size and SHA-256 of every data
  and metadata file but orbax's commit record) is written into the folder. `restore_latest` checks it and skips a checkpoint whose
  files were truncated or changed since, reporting it in one line and falling back to
  the previous one. A workdir whose checkpoints are all unusable is an error, never a
  silent restart from step 0.
- Compatible: a checkpoint written by a different model is refused with the first
  parameter whose shape or dtype differs (`check_compatible`).
"""

import errno
import hashlib
import json
import logging
import os
import re
import time
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath

from gan_jax.run import tree_diff
from gan_jax.run import writers
from gan_jax.errors import CheckpointError
from gan_jax.training.state import GANState, GeneratorState

MANIFEST = "gan_jax_manifest.json"
# Orbax rewrites its step metadata (commit time) after the manifest is taken.
_UNLISTED = (MANIFEST, "_CHECKPOINT_METADATA")
_TMP_STEP = re.compile(r"^\d+\.orbax-checkpoint-tmp")


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


def make_manager(workdir: str, config: ml_collections.ConfigDict) -> ocp.CheckpointManager:
    directory = checkpoint_dir(workdir)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=config.keep_checkpoints,
        create=True,
        enable_async_checkpointing=True,
        cleanup_tmp_directories=True,
        async_options=ocp.AsyncOptions(post_finalization_callback=lambda: _write_manifests(directory)),
    )
    return ocp.CheckpointManager(directory, options=options, item_names=("state", "config"))


class _ReadOnlyNotices(logging.Filter):
    """Drops orbax's notices that a manager opened read-only is read-only (asked for here)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.startswith("Given directory is read only") or "read_only=True" in message)


def open_for_reading(directory: str) -> ocp.CheckpointManager:
    """A manager that only reads ``directory``: it creates, removes and rewrites nothing
    (a training process may be saving into it at this moment, its step in a temporary
    folder that a writing manager would delete)."""
    absl_logger = logging.getLogger("absl")
    if not any(isinstance(f, _ReadOnlyNotices) for f in absl_logger.filters):
        absl_logger.addFilter(_ReadOnlyNotices())
    options = ocp.CheckpointManagerOptions(
        create=False,
        read_only=True,
        cleanup_tmp_directories=False,
        enable_async_checkpointing=False,
        save_root_metadata=False,
    )
    return ocp.CheckpointManager(directory, options=options, item_names=("state", "config"))


def save(manager: ocp.CheckpointManager, state: GANState, config: ml_collections.ConfigDict) -> bool:
    """Starts an asynchronous save at ``state.step``; device buffers are copied before it returns.

    A failure of the previous asynchronous save (full disk, lost permissions) surfaces
    here, or in `wait`, as a `CheckpointError`.
    """
    step = int(jax.device_get(state.step))
    if step in manager.all_steps():
        return False
    try:
        return manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config.to_dict())
            ),
        )
    except Exception as e:  # orbax re-raises the background writer's error, whatever its type
        raise _save_error(manager, e) from None


def wait(manager: ocp.CheckpointManager) -> None:
    """Blocks until the pending save is on disk."""
    try:
        manager.wait_until_finished()
        manager.check_for_errors()
    except Exception as e:
        raise _save_error(manager, e) from None


def _save_error(manager: ocp.CheckpointManager, error: Exception) -> CheckpointError:
    manager.reload()
    latest = manager.latest_step()
    kept = (
        f"checkpoint {latest} is intact and the run resumes from it"
        if latest is not None
        else "no checkpoint was completed"
    )
    reason = _os_reason(error) or _first_line(error)
    return CheckpointError(
        f"writing a checkpoint in {manager.directory} failed ({reason}); {kept}. "
        f"Free space or fix the folder and run again"
    )


def _os_reason(error: BaseException) -> str | None:
    """The operating system's words for what failed ("No space left on device"), found
    in the long messages tensorstore and orbax wrap it in, or in their causes."""
    texts, e = [], error
    while e is not None and len(texts) < 8:
        texts.append(str(e))
        e = e.__cause__ or e.__context__
    text = "\n".join(texts)
    tagged = re.search(r"([^:\[\]\n]+?)\s*\[os_error_code", text)
    if tagged:
        return tagged.group(1).strip()
    return next((os.strerror(c) for c in sorted(errno.errorcode) if os.strerror(c) in text), None)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


# ----------------------------------------------------------------------------
# Manifest: what a complete checkpoint folder holds


def _files(folder: str) -> list[str]:
    out = []
    for root, _, names in os.walk(folder):
        out += [os.path.relpath(os.path.join(root, n), folder) for n in names if n not in _UNLISTED]
    return sorted(out)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str) -> None:
    """Records the size and SHA-256 of every file of a checkpoint folder."""
    manifest = {
        rel: {
            "bytes": os.path.getsize(os.path.join(folder, rel)),
            "sha256": _sha256(os.path.join(folder, rel)),
        }
        for rel in _files(folder)
    }
    tmp = os.path.join(folder, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=0, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(folder, MANIFEST))


def _write_manifests(directory: str) -> None:
    """Runs when orbax has finished writing a step, before the folder is renamed into place.

    Object stores (no rename) have no temporary folder here: their checkpoints go
    without a manifest and are checked by reading them.
    """
    if jax.process_index() != 0 or not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        folder = os.path.join(directory, name)
        if _TMP_STEP.match(name) and not os.path.exists(os.path.join(folder, MANIFEST)):
            write_manifest(folder)


def verify(folder: str) -> str | None:
    """What is wrong with a checkpoint folder according to its manifest (None: nothing, or
    no manifest to check against)."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        return f"its manifest is unreadable ({_first_line(e)})"
    for rel, entry in manifest.items():
        full = os.path.join(folder, rel)
        if not os.path.exists(full):
            return f"{rel} is missing"
        size = os.path.getsize(full)
        if size != entry["bytes"]:
            return f"{rel} has {size} bytes, {entry['bytes']} were written"
        if _sha256(full) != entry["sha256"]:
            return f"{rel} differs from what was written"
    return None


# ----------------------------------------------------------------------------
# Restoring


def check_compatible(folder: str, abstract_state: GANState | GeneratorState) -> None:
    """Raises `CheckpointError` naming the first array whose shape or dtype differs
    between the checkpoint in ``folder`` and the state this config builds (of a
    `GeneratorState`, only the fields it has)."""
    metadata = ocp.PyTreeCheckpointHandler().metadata(epath.Path(folder) / "state")
    saved = tree_diff.arrays(getattr(metadata, "tree", metadata))
    wanted = tree_diff.arrays(abstract_state)
    if isinstance(abstract_state, GeneratorState):
        saved = {k: v for k, v in saved.items() if k.split("/")[0] in GeneratorState._fields}
    found = tree_diff.first_difference(saved, wanted, [*wanted, *sorted(set(saved) - set(wanted))])
    if found is None:
        return
    name, old, new = found
    if old is None:
        problem = f"this config has {name} {tree_diff.signature(new)[0]}, the checkpoint has no such array"
    elif new is None:
        problem = f"the checkpoint has {name} {tree_diff.signature(old)[0]}, this config has no such array"
    else:
        (old_shape, old_dtype), (shape, dtype) = tree_diff.signature(old), tree_diff.signature(new)
        problem = (
            f"{name} is {old_dtype}{list(old_shape)} in the checkpoint but "
            f"{dtype}{list(shape)} in this config"
        )
    raise CheckpointError(
        f"checkpoint {os.path.basename(folder)} in {os.path.dirname(folder)} was "
        f"written by a different model: {problem}. Use the config it was trained "
        f"with (saved in its folder and in config.json), or a new workdir"
    )


def _no_manifest_warning(step: int, directory) -> None:
    writers.warn(
        f"checkpoint {step} in {directory} has no {MANIFEST} (copied from elsewhere, or "
        f"written by an older version): its bytes cannot be checked, so it is read as "
        f"it is"
    )


def _check_readable(folder: str, abstract_state: GANState) -> None:
    """`check_compatible`, with a folder orbax cannot read (empty, half-copied, no metadata)
    reported as a damaged checkpoint rather than an exception of orbax's."""
    try:
        check_compatible(folder, abstract_state)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 (orbax and tensorstore raise many kinds)
        raise _Damaged(f"incomplete or unreadable ({_first_line(e)})") from None


class _Damaged(Exception):
    pass


def restore(
    manager: ocp.CheckpointManager, abstract_state: GANState | GeneratorState, step: int | None = None
) -> GANState | GeneratorState:
    """Restores ``step`` (default: the latest) into the shardings of ``abstract_state``; of a
    `GeneratorState`, only the generator side is read (D and the optimizer states stay on disk)."""
    step = manager.latest_step() if step is None else step
    if step is None:
        raise CheckpointError(f"no checkpoint in {manager.directory}")
    folder = os.path.join(str(manager.directory), str(step))
    problem = verify(folder)
    if problem:
        raise CheckpointError(f"checkpoint {step} in {manager.directory} is corrupt: {problem}")
    if not os.path.exists(os.path.join(folder, MANIFEST)):
        _no_manifest_warning(step, manager.directory)
    try:
        _check_readable(folder, abstract_state)
        return _read_state(manager, step, abstract_state)
    except _Damaged as e:
        raise CheckpointError(f"checkpoint {step} in {manager.directory} is {e}") from None
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(
            f"checkpoint {step} in {manager.directory} is unreadable ({_first_line(e)})"
        ) from None


def _read_state(manager: ocp.CheckpointManager, step: int, abstract_state):
    if isinstance(abstract_state, GeneratorState):
        return _read_generator(manager, step, abstract_state)
    return manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))[
        "state"
    ]


def _read_generator(manager: ocp.CheckpointManager, step: int, abstract: GeneratorState) -> GeneratorState:
    item = abstract._asdict()
    args = ocp.args.PyTreeRestore(
        item=item, restore_args=ocp.checkpoint_utils.construct_restore_args(item), partial_restore=True
    )
    restored = manager.restore(step, args=ocp.args.Composite(state=args))["state"]
    return GeneratorState(**{name: restored[name] for name in GeneratorState._fields})


def damaged_dir(directory) -> str:
    """Where damaged checkpoints are set aside: ``W/damaged_checkpoints`` beside
    ``W/checkpoints`` (outside it, so orbax never takes them for steps)."""
    return os.path.join(os.path.dirname(str(directory).rstrip("/")), "damaged_checkpoints")


def _set_aside(manager: ocp.CheckpointManager, steps: list[int]) -> None:
    """Moves damaged checkpoint folders into `damaged_dir` (renamed, never deleted), so that
    the resumed run can save those steps again."""
    if steps and jax.process_index() == 0:
        target = damaged_dir(manager.directory)
        os.makedirs(target, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for step in steps:
            dest = os.path.join(target, f"{step}.{stamp}")
            os.replace(os.path.join(str(manager.directory), str(step)), dest)
            writers.warn(f"damaged checkpoint {step} moved to {dest}")
    if steps:
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("gan_jax: damaged checkpoints set aside")
        manager.reload()


def restore_latest(manager: ocp.CheckpointManager, abstract_state: GANState) -> GANState:
    """The newest checkpoint that is complete and intact, reporting each one skipped.

    Damaged checkpoints newer than the one restored are moved aside (`_set_aside`). A
    checkpoint from another model is an error (the older ones would be too); if every
    checkpoint is damaged, the run stops rather than start again from step 0, and nothing
    is moved.
    """
    skipped = []
    for step in sorted(manager.all_steps(), reverse=True):
        folder = os.path.join(str(manager.directory), str(step))
        problem = verify(folder)
        if problem is None:
            try:
                _check_readable(folder, abstract_state)
                if not os.path.exists(os.path.join(folder, MANIFEST)):
                    _no_manifest_warning(step, manager.directory)
                state = _read_state(manager, step, abstract_state)
            except _Damaged as e:
                problem = str(e)
            except CheckpointError:
                raise
            except Exception as e:  # a damaged checkpoint without a manifest fails in many ways
                problem = f"unreadable ({_first_line(e)})"
            else:
                _set_aside(manager, skipped)
                return state
        writers.warn(f"checkpoint {step} in {manager.directory} is skipped: {problem}")
        skipped.append(step)
    raise CheckpointError(
        f"no usable checkpoint in {manager.directory} (damaged: {', '.join(map(str, skipped))}); "
        f"move that folder away to start again from step 0"
    )


def saved_config(manager: ocp.CheckpointManager, step: int) -> dict[str, Any]:
    """The config saved with checkpoint ``step``; CheckpointError when that folder lacks it
    (empty, half-copied) or it cannot be read."""
    try:
        return manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]
    except Exception as e:  # noqa: BLE001 (orbax raises KeyError, FileNotFoundError, ...)
        raise CheckpointError(
            f"checkpoint {step} in {manager.directory} is incomplete or "
            f"unreadable: its config cannot be read ({_first_line(e)})"
        ) from None


def best_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "best_checkpoint")


def make_best_manager(workdir: str) -> ocp.CheckpointManager:
    """Holds one checkpoint: the best so far by ``eval.best_metric``."""
    options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True, enable_async_checkpointing=False)
    return ocp.CheckpointManager(best_dir(workdir), options=options, item_names=("state", "config"))


def read_best(workdir: str) -> dict | None:
    path = os.path.join(best_dir(workdir), "best.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def maybe_save_best(
    manager: ocp.CheckpointManager,
    workdir: str,
    state: GANState,
    config: ml_collections.ConfigDict,
    key: str,
    value: float,
    higher: bool,
) -> bool:
    """Saves ``state`` as the best checkpoint if ``value`` beats the recorded best."""
    best = read_best(workdir)
    if (
        best is not None
        and best["metric"] == key
        and (value <= best["value"] if higher else value >= best["value"])
    ):
        return False
    step = int(jax.device_get(state.step))
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config.to_dict())
        ),
        force=True,
    )
    manager.wait_until_finished()
    if jax.process_index() == 0:
        tmp = os.path.join(best_dir(workdir), "best.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"metric": key, "value": value, "step": step}, f)
        os.replace(tmp, os.path.join(best_dir(workdir), "best.json"))
    return True
