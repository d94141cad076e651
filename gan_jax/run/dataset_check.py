"""What a run checks of its dataset before the first step.

- The labels fit the model: a conditional model embeds labels ``0 … num_classes − 1``, and
  a larger one indexes past its embedding table (NaN at the first step, with no word on
  why). Refused with the largest label and what to set.
- A resume reads the data the run was trained on. ``W/data.json`` records the dataset's
  description, example count and, for a pack, its SHA-256 (`gan_jax.data.packed`); a
  resume on a pack with another SHA-256 or on another count of examples would continue the
  experiment on other data (and another data order), so it is refused unless
  ``resume_changes=True``, as a changed ``dataset.*`` field is. The pack's records are
  checked as they are read (each ArrayRecord chunk carries its own hash).
"""

import json
import os

import jax
import ml_collections
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.run import writers

FILE = "data.json"


def check_labels(config: ml_collections.ConfigDict, dataset) -> None:
    """`ConfigError` when the model has fewer classes than the dataset's labels need."""
    n = config.model.num_classes
    if not n or not len(dataset.labels):
        return
    largest = int(np.max(dataset.labels))
    if largest >= n or n > dataset.num_classes:
        raise ConfigError(
            f"model.num_classes={n} but {dataset.description} has labels 0 … {largest} "
            f"({dataset.num_classes} classes): set --config.model.num_classes={max(largest + 1, dataset.num_classes)}, "
            f"or train on some classes with --config.dataset.classes=0,1,…"
        )


def identity(dataset) -> dict:
    """What `check_resume` compares: description, example count, and a pack's SHA-256."""
    info = getattr(getattr(dataset, "source", None), "info", None)
    return {
        "description": dataset.description,
        "count": len(dataset),
        "sha256": info.get("sha256") if isinstance(info, dict) else None,
    }


def check_resume(workdir: str, config: ml_collections.ConfigDict, dataset) -> None:
    """Refuses (or, with ``resume_changes``, logs) a resume on other data than ``W/data.json`` records."""
    path = os.path.join(workdir, FILE)
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return  # a run from before data.json, or a damaged one: nothing to compare
    now = identity(dataset)
    changed = [
        f"{key}: {saved.get(key)} -> {now[key]}"
        for key in ("sha256", "count")
        if saved.get(key) is not None and saved.get(key) != now[key]
    ]
    if not changed:
        return
    if not config.resume_changes:
        raise ConfigError(
            f"{workdir} was trained on other data than {now['description']} ({'; '.join(changed)}; "
            f"recorded in {path}); resuming would continue the experiment on other data. Use a "
            f"new --workdir, or add --config.resume_changes=True to resume anyway"
        )
    writers.log(f"resuming on changed data: {'; '.join(changed)}")


def write(workdir: str, dataset) -> None:
    if jax.process_index() == 0:
        path = os.path.join(workdir, FILE)
        with open(path + ".tmp", "w") as f:
            json.dump(identity(dataset), f, indent=1)
        os.replace(path + ".tmp", path)
