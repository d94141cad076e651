"""Optional Weights & Biases logging (``config.wandb.enabled``).

wandb is imported only when enabled and is no dependency of gan_jax (``pip install wandb``).
The run's files go under ``<workdir>/wandb/``. Its id is kept in
``<workdir>/wandb_run_id.txt``, so a resumed training run continues the same wandb run; wandb
ignores values logged at a step below the last one it has, so the steps replayed after a
resume keep the values the interrupted run logged. In ``mode='offline'`` nothing leaves
the machine: ``wandb sync <workdir>/wandb/offline-run-*`` uploads the runs later.
"""

import math
import netrc
import os
import urllib.parse
import uuid

import ml_collections
from absl import logging
import numpy as np

from gan_jax.config.outputs import import_wandb
from gan_jax.errors import ConfigError

RUN_ID_FILE = "wandb_run_id.txt"


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


INIT_TIMEOUT_S = 30.0  # wandb.init's wait for its service and server (its default is 90 s)


def has_api_key(base_url: str) -> bool:
    """Whether wandb would find a key: ``WANDB_API_KEY``, or a netrc entry for the server
    (what ``wandb login`` writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urllib.parse.urlparse(base_url).hostname or ""
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def online_problem() -> str | None:
    """Why an online run could not start here (no key, no route to the server), or None."""
    from gan_jax.data.sources import can_reach  # only for an online run

    base_url = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    if not has_api_key(base_url):
        return "no API key (run wandb login, or set WANDB_API_KEY)"
    host = urllib.parse.urlparse(base_url).hostname or ""
    if not can_reach(host, 443 if base_url.startswith("https") else 80):
        return f"{host} cannot be reached"
    return None


class WandbWriter:
    """One wandb run: the scalars, evaluation results and sample grids of `MetricsWriter`.
    An online run that cannot start (no key, no server, a failed init) logs offline instead,
    with a warning; training never waits more than `INIT_TIMEOUT_S` for wandb."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str, resume_step: int):
        self._wandb = import_wandb()
        mode = config.wandb.mode
        problem = online_problem() if mode == "online" else None
        if problem:
            mode = _offline_instead(problem, workdir)
        try:
            self.run = self._init(config, workdir, resume_step, mode)
        except Exception as e:  # noqa: BLE001 (wandb's errors differ across versions)
            if mode != "online":
                raise ConfigError(
                    f"wandb could not start in mode={mode!r}: {' '.join(str(e).split())[:300]}"
                ) from None
            mode = _offline_instead(f"wandb.init failed: {' '.join(str(e).split())[:200]}", workdir)
            self.run = self._init(config, workdir, resume_step, mode)

    def _init(self, config, workdir: str, resume_step: int, mode: str):
        c = config.wandb
        return self._wandb.init(
            project=c.project,
            entity=c.entity or None,
            name=c.name or os.path.basename(os.path.abspath(workdir)),
            mode=mode,
            dir=workdir,
            config=config.to_dict(),
            tags=list(c.tags),
            id=run_id(workdir, resume_step),
            resume="allow",
            settings=self._wandb.Settings(init_timeout=INIT_TIMEOUT_S),
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


def _offline_instead(problem: str, workdir: str) -> str:
    logging.warning(
        f"wandb cannot log online: {problem}; logging offline to {workdir}/wandb instead "
        f"(upload later with wandb sync {workdir}/wandb/offline-run-*)"
    )
    return "offline"
