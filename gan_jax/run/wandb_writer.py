"""Optional Weights & Biases logging (``config.wandb.enabled``).

wandb is imported only when enabled and is no dependency of gan_jax (``pip install wandb``).
The run's files go under ``<workdir>/wandb/``. Its id is kept in
``<workdir>/wandb_run_id.txt``, so a resumed training run continues the same wandb run; wandb
ignores values logged at a step below the last one it has, so the steps replayed after a
resume keep the values the interrupted run logged. In ``mode='offline'`` nothing leaves
the machine: ``wandb sync <workdir>/wandb/offline-run-*`` uploads the runs later.
"""

import math
import os
import uuid

import ml_collections
import numpy as np

from gan_jax.errors import ConfigError

RUN_ID_FILE = "wandb_run_id.txt"


def import_wandb():
    """The wandb module, or a `ConfigError` saying how to install it."""
    try:
        import wandb
    except ImportError:
        raise ConfigError("config.wandb.enabled=True needs the wandb package: pip install wandb") from None
    return wandb


def run_id(workdir: str, resume_step: int) -> str:
    """The id stored in the workdir when resuming from a checkpoint, else a new one (stored)."""
    path = os.path.join(workdir, RUN_ID_FILE)
    if resume_step and os.path.exists(path):
        with open(path) as f:
            stored = f.read().strip()
        if stored:
            return stored
    new = uuid.uuid4().hex[:16]
    with open(path, "w") as f:
        f.write(new + "\n")
    return new


class WandbWriter:
    """One wandb run: the scalars, evaluation results and sample grids of `MetricsWriter`."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str, resume_step: int):
        self._wandb = import_wandb()
        c = config.wandb
        self.run = self._wandb.init(
            project=c.project,
            entity=c.entity or None,
            name=c.name or os.path.basename(os.path.abspath(workdir)),
            mode=c.mode,
            dir=workdir,
            config=config.to_dict(),
            tags=list(c.tags),
            id=run_id(workdir, resume_step),
            resume="allow",
        )

    def scalars(self, step: int, values: dict[str, float]) -> None:
        finite = {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, (int, float, np.number)) and math.isfinite(v)
        }
        self.run.log(finite, step=int(step))

    def eval_results(self, step: int, results: dict[str, dict]) -> None:
        self.run.log({f"eval/{k}": r["value"] for k, r in results.items()}, step=int(step))

    def image(self, step: int, tag: str, image: np.ndarray) -> None:
        self.run.log({tag: self._wandb.Image(image)}, step=int(step))

    def close(self) -> None:
        self.run.finish()
