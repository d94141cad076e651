"""Orbax checkpoints of the `GANState`, one folder per step under ``workdir/checkpoints``.

Each checkpoint holds the whole state (both networks, their collections, both optimizer
states, the EMA generator, the step) and the config it was trained with. The data
order and every random number derive from (seed, step), so the state is all a run
needs to continue exactly where it stopped. Restoring reads straight into the
shardings of the current mesh, so a run may resume on a different device count.
"""

import json
import os
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

from gan_jax.errors import CheckpointError
from gan_jax.state import GANState


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


def make_manager(workdir: str, config: ml_collections.ConfigDict) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=config.keep_checkpoints, create=True,
        enable_async_checkpointing=True)
    return ocp.CheckpointManager(checkpoint_dir(workdir), options=options,
                                 item_names=("state", "config"))


def save(manager: ocp.CheckpointManager, state: GANState, config: ml_collections.ConfigDict,
         force: bool = False) -> bool:
    """Starts an asynchronous save at ``state.step``; device buffers are copied before it returns."""
    step = int(jax.device_get(state.step))
    if step in manager.all_steps():
        return False
    return manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config.to_dict())),
        force=force)


def restore(manager: ocp.CheckpointManager, abstract_state: GANState, step: int | None = None
            ) -> GANState:
    """Restores ``step`` (default: the latest) into the shardings of ``abstract_state``."""
    step = manager.latest_step() if step is None else step
    if step is None:
        raise CheckpointError(f"no checkpoint in {manager.directory}")
    try:
        restored = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state)))
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"checkpoint {step} in {manager.directory} does not match this config's state: "
            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return restored["state"]


def saved_config(manager: ocp.CheckpointManager, step: int) -> dict[str, Any]:
    return manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]


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


def maybe_save_best(manager: ocp.CheckpointManager, workdir: str, state: GANState,
                    config: ml_collections.ConfigDict, key: str, value: float, higher: bool) -> bool:
    """Saves ``state`` as the best checkpoint if ``value`` beats the recorded best."""
    best = read_best(workdir)
    if best is not None and best["metric"] == key and (
            value <= best["value"] if higher else value >= best["value"]):
        return False
    step = int(jax.device_get(state.step))
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config.to_dict())), force=True)
    manager.wait_until_finished()
    if jax.process_index() == 0:
        tmp = os.path.join(best_dir(workdir), "best.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"metric": key, "value": value, "step": step}, f)
        os.replace(tmp, os.path.join(best_dir(workdir), "best.json"))
    return True
