"""The peers' environment, for the tests that run a reference's own code beside gan_jax.

Named by environment variables; a test that needs one skips when it is absent and says which:

    GAN_JAX_TORCH_PYTHON     a Python with torch and numpy
    STYLEGAN2_ADA_PYTORCH    a checkout of github.com/NVlabs/stylegan2-ada-pytorch ('nvlabs')
    R3GAN_CHECKOUT           a checkout of github.com/brownvc/R3GAN ('r3gan')
    GAN_JAX_R3GAN_CURVE_RUN  the folder of a brownvc job of `benchmarks/training_curves.py`
                             (its job.json and trained state.npz)
"""

import json
import os

TORCH_PYTHON = os.environ.get("GAN_JAX_TORCH_PYTHON", "")
CHECKOUT_VARS = {"nvlabs": "STYLEGAN2_ADA_PYTORCH", "r3gan": "R3GAN_CHECKOUT"}
CHECKOUTS = {peer: os.environ.get(var, "") for peer, var in CHECKOUT_VARS.items()}
CURVE_RUN = os.environ.get("GAN_JAX_R3GAN_CURVE_RUN", "")


def missing(peer: str) -> str:
    """What of ``peer``'s environment is absent, for a skip's reason ('' when nothing is)."""
    absent = []
    if not TORCH_PYTHON or not os.path.exists(TORCH_PYTHON):
        absent.append(f"GAN_JAX_TORCH_PYTHON (a Python with torch; now {TORCH_PYTHON!r})")
    checkout = CHECKOUTS[peer]
    if not checkout or not os.path.isdir(os.path.join(checkout, "training")):
        absent.append(f"{CHECKOUT_VARS[peer]} (a checkout; now {checkout!r})")
    return "; ".join(absent)


def curve_run_missing() -> str:
    """Why no trained R3GAN curve job can be read ('' when one can)."""
    if os.path.isfile(os.path.join(CURVE_RUN, "state.npz")):
        return ""
    return f"no trained state: GAN_JAX_R3GAN_CURVE_RUN names no brownvc curve job (now {CURVE_RUN!r})"


def curve_run_job() -> dict:
    """The curve job's job.json (its ``meta``, ``images``, ``order``)."""
    with open(os.path.join(CURVE_RUN, "job.json")) as f:
        return json.load(f)


def curve_run_state() -> str:
    return os.path.join(CURVE_RUN, "state.npz")
