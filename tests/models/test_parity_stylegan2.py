"""gan_jax's StyleGAN2 against NVlabs' stylegan2-ada-pytorch on the same weights and inputs.

Needs two things outside gan_jax, named by environment variables:

    GAN_JAX_TORCH_PYTHON   a Python with torch (and numpy)
    STYLEGAN2_ADA_PYTORCH  a checkout of github.com/NVlabs/stylegan2-ada-pytorch

`benchmarks/peers/stylegan2_export.py` builds NVlabs' networks there, moves every
parameter off its initial value, and writes the state dicts, inputs and outputs; this
converts the weights (`gan_jax.convert.stylegan2`) and compares: ws to 1e-5, images
(both modulated-convolution forms) and discriminator scores to 1e-4, max abs.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import peer_env

from gan_jax.convert import stylegan2 as cv
from gan_jax.convert.common import load_state_dict
from gan_jax.models import stylegan2

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORT = os.path.join(REPO, "benchmarks", "peers", "stylegan2_export.py")
pytestmark = pytest.mark.skipif(
    bool(peer_env.missing("nvlabs")), reason=f"NVlabs peer absent: {peer_env.missing('nvlabs')}"
)

# NVlabs' cifar config at its real widths (512 channels at every resolution, 2 mapping
# layers; conditional with its 'orig' discriminator), then reduced widths at 64 and 256 px.
CIFAR = dict(channel_base=16384, channel_max=512, mapping_layers=2)
REDUCED = dict(channel_base=2048, channel_max=64, mapping_layers=8)
CASES = {
    "32-uncond-cifar": dict(resolution=32, num_classes=0, **CIFAR),
    "32-cond-cifar-orig": dict(resolution=32, num_classes=10, d_architecture="orig", **CIFAR),
    "64-uncond": dict(resolution=64, num_classes=0, **REDUCED),
    "64-cond": dict(resolution=64, num_classes=5, **REDUCED),
    "256-uncond": dict(resolution=256, num_classes=0, **REDUCED),
    "256-cond": dict(resolution=256, num_classes=5, **REDUCED),
}
TOLERANCE = {"ws": 1e-5, "ws_trunc": 1e-5, "img": 1e-4, "img_nonfused": 1e-4, "d": 1e-4}


def export(tmp_path, case: dict) -> dict[str, np.ndarray]:
    out = str(tmp_path / "peer.npz")
    args = [
        peer_env.TORCH_PYTHON,
        EXPORT,
        "--checkout",
        peer_env.CHECKOUTS["nvlabs"],
        "--out",
        out,
        "--batch",
        "8",
    ]
    args += [f"--{k.replace('_', '-')}={v}" for k, v in case.items()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise AssertionError(f"the NVlabs export failed ({done.returncode}): {done.stderr[-2000:]}")
    return load_state_dict(out)


def gan_jax_outputs(peer: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    meta = {k[len("meta.") :]: peer[k].item() for k in peer if k.startswith("meta.")}
    d_architecture = str(meta.pop("d_architecture"))
    common = dict(
        resolution=meta["resolution"],
        num_classes=meta["num_classes"],
        channel_base=meta["channel_base"],
        channel_max=meta["channel_max"],
        conv_clamp=meta["conv_clamp"],
    )
    g = stylegan2.Generator(
        channels=meta["img_channels"],
        z_dim=meta["z_dim"],
        w_dim=meta["w_dim"],
        mapping_layers=meta["mapping_layers"],
        **common,
    )
    d = stylegan2.Discriminator(mbstd_group=meta["mbstd_group"], d_architecture=d_architecture, **common)
    g_params, g_collections = cv.convert(peer, "G.", g)
    d_params, _ = cv.convert(peer, "D.", d)
    gv = {"params": g_params, **g_collections}
    labels = jnp.asarray(peer["in.labels"]) if meta["num_classes"] else None
    z = jnp.asarray(peer["in.z"])
    psi, cutoff = float(peer["meta.trunc_psi"]), int(peer["meta.trunc_cutoff"])
    ws = jax.jit(lambda v, z, y: g.apply(v, z, y, method="mapping"))(gv, z, labels)
    out = {
        "ws": ws,
        "ws_trunc": g.apply(gv, z, labels, truncation_psi=psi, truncation_cutoff=cutoff, method="mapping"),
    }
    for key, fused in (("img", "fused"), ("img_nonfused", "nonfused")):
        synth = g.clone(fused_modconv=fused)
        run = jax.jit(lambda v, w: synth.apply(v, w, noise_mode="const", method="synthesis"))
        out[key] = run(gv, ws)
    x = jnp.asarray(peer["in.img"].transpose(0, 2, 3, 1))
    out["d"] = jax.jit(lambda p, x, y: d.apply({"params": p}, x, y))(d_params, x, labels)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_nvlabs(name, tmp_path, record_property):
    peer = export(tmp_path, CASES[name])
    ours = gan_jax_outputs(peer)
    errors = {}
    for key, tol in TOLERANCE.items():
        want = peer[f"out.{key}"]
        if want.ndim == 4:  # NCHW → NHWC
            want = want.transpose(0, 2, 3, 1)
        assert ours[key].shape == want.shape, key
        errors[key] = float(np.abs(ours[key] - want).max())
    record_property("max_abs_diff", errors)
    print(f"{name}: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    # A comparison of outputs that are ~0 would prove nothing.
    assert np.abs(peer["out.img"]).max() > 0.1 and np.abs(peer["out.d"]).max() > 0.01
    bad = {k: v for k, v in errors.items() if v > TOLERANCE[k]}
    assert not bad, f"max |gan_jax − NVlabs| over tolerance: {bad}"
