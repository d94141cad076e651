"""gan_jax's R3GAN against the authors' brownvc/R3GAN on the same weights and inputs.

Needs two things outside gan_jax, named by environment variables:

    GAN_JAX_TORCH_PYTHON   a Python with torch (and numpy)
    R3GAN_CHECKOUT         a checkout of github.com/brownvc/R3GAN

(R3GAN's torch_utils import ``pkg_resources``: that Python needs ``setuptools<81``.)

`benchmarks/peers/r3gan_export.py` builds R3GAN's networks there, moves every parameter
off its initial value, and writes the state dicts, inputs and outputs; this converts the
weights (`gan_jax.convert.r3gan`) and compares images and scores to 1e-4, max abs.
With ``GAN_JAX_R3GAN_CURVE_RUN`` naming a brownvc job of `benchmarks/training_curves.py`,
also its trained networks (its ``state.npz``: G_ema and D after training), the weights that
the training curves score through this converter.
"""

import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

import peer_env

from gan_jax.convert import r3gan as cv
from gan_jax.convert.common import load_state_dict
from gan_jax.models import r3gan

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORT = os.path.join(REPO, "benchmarks", "peers", "r3gan_export.py")


pytestmark = pytest.mark.skipif(
    bool(peer_env.missing("r3gan")), reason=f"R3GAN peer absent: {peer_env.missing('r3gan')}"
)

# Narrowed presets (the CIFAR-10 preset is 768 wide with 96 groups of 16): the same
# structure, groups of 16 expanded channels, 2 blocks per stage; at 64 px the widths fall
# at the top stage as FFHQ's do, so the transitions' 1×1 convolutions are exercised.
CASES = {
    "32-uncond": dict(resolution=32, num_classes=0, widths="48,48,48,48"),
    "32-cond": dict(resolution=32, num_classes=10, widths="48,48,48,48"),
    "64-uncond": dict(resolution=64, num_classes=0, widths="64,64,64,64,32", blocks="2,1,2,1,2"),
    "64-cond": dict(resolution=64, num_classes=5, widths="64,64,64,64,32", groups="8,4,8,8,4"),
}


def _curve_run_case() -> dict:
    """The export's arguments for the curve job's networks and its trained weights."""
    meta = peer_env.curve_run_job()["meta"]
    join = lambda values: ",".join(map(str, values))  # noqa: E731
    return dict(
        resolution=meta["resolution"],
        num_classes=meta["num_classes"],
        z_dim=meta["z_dim"],
        expansion=meta["expansion"],
        widths=join(meta["widths"]),
        groups=join(meta["groups"]),
        blocks=join(meta["blocks"]),
        weights=peer_env.curve_run_state(),
    )


def export(tmp_path, case: dict) -> dict[str, np.ndarray]:
    out = str(tmp_path / "peer.npz")
    args = [
        peer_env.TORCH_PYTHON,
        EXPORT,
        "--checkout",
        peer_env.CHECKOUTS["r3gan"],
        "--out",
        out,
        "--batch",
        "6",
    ]
    args += [f"--{k.replace('_', '-')}={v}" for k, v in case.items()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise AssertionError(f"the R3GAN export failed ({done.returncode}): {done.stderr[-2000:]}")
    return load_state_dict(out)


def models(peer: dict[str, np.ndarray]):
    fields = dict(
        resolution=int(peer["meta.resolution"]),
        num_classes=int(peer["meta.num_classes"]),
        stage_widths=tuple(peer["meta.widths"].tolist()),
        stage_blocks=tuple(peer["meta.blocks"].tolist()),
        stage_groups=tuple(peer["meta.groups"].tolist()),
        expansion=int(peer["meta.expansion"]),
    )
    return (
        r3gan.Generator(channels=3, z_dim=int(peer["meta.z_dim"]), **fields),
        r3gan.Discriminator(**fields),
    )


@pytest.mark.parametrize("name", [*CASES, "trained"])
def test_networks_match_r3gan(tmp_path, name):
    if name == "trained" and peer_env.curve_run_missing():
        pytest.skip(peer_env.curve_run_missing())
    peer = export(tmp_path, _curve_run_case() if name == "trained" else CASES[name])
    g, d = models(peer)
    g_params, _ = cv.convert(peer, "G.", g)
    d_params, _ = cv.convert(peer, "D.", d)
    labels = jnp.asarray(peer["in.labels"])
    img = g.apply({"params": g_params}, jnp.asarray(peer["in.z"]), labels, train=False)
    score = d.apply(
        {"params": d_params}, jnp.asarray(peer["in.img"].transpose(0, 2, 3, 1)), labels, train=False
    )
    want_img = peer["out.img"].transpose(0, 2, 3, 1)
    assert np.abs(np.asarray(img) - want_img).max() < 1e-4, np.abs(np.asarray(img) - want_img).max()
    assert np.abs(np.asarray(score) - peer["out.d"]).max() < 1e-4
    assert float(np.std(want_img)) > 0.1 and float(np.std(peer["out.d"])) > 0.01  # not trivial
    if peer["meta.num_classes"]:  # class weights: one-hot rows give the labels' images
        onehot = jnp.eye(int(peer["meta.num_classes"]))[labels]
        img2 = g.apply({"params": g_params}, jnp.asarray(peer["in.z"]), onehot, train=False)
        np.testing.assert_allclose(img2, img, atol=1e-6)


def test_converter_refuses_a_wrong_size(tmp_path):
    from gan_jax.errors import ConfigError

    peer = export(tmp_path, CASES["32-uncond"])
    g = r3gan.Generator(resolution=32, channels=3, z_dim=32, stage_widths=(48, 48, 48, 48))
    with pytest.raises(ConfigError, match="has shape"):
        cv.convert(peer, "G.", g)
    g = r3gan.Generator(resolution=32, channels=3, z_dim=64, stage_widths=(48, 48, 48, 32))
    with pytest.raises(ConfigError, match="missing tensor G.MainLayers.3.Layers.0"):
        cv.convert(peer, "G.", g)
