"""The gan_jax half of the suite's Inception check: pool3 features of random images through
gan_jax's FID Inception with random weights in the published PyTorch layout.

    python benchmarks/suite_fid_inception.py --plan OUT/plan.json --work WORKDIR

Writes to ``WORKDIR`` (a scratch folder, not the results folder: the weights are 95 MB):

* ``fid_state.npz``: a random state dict in pytorch-fid's published layout
  (`gan_jax.metrics.inception.torch_layout`: He-scaled convolutions, unit BatchNorm scales,
  running variances in [0.5, 1.5]), the one both networks load;
* ``fid_images.npy``: random uint8 images (N, S, S, 3), the plan's ``fid`` sizes;
* ``fid_pool3_gan_jax.npz``: gan_jax's pool3 features of them, through the route the
  evaluator takes (`convert_inception.convert` of the state dict, `inception.features_fn`:
  bilinear resize to 299, scaling to [-1, 1], the network), at JAX's default matmul
  precision (``default``) and at full float32 precision (``highest``).

`benchmarks/peers/fid_inception_torch.py` then runs pytorch-fid's network on the same weights
and images and reports the differences.
"""

import argparse
import json
import os

import jax
import numpy as np
from flax import traverse_util

import suite_plan
from gan_jax.metrics import inception
from gan_jax.convert import inception as convert_inception


def random_state_dict(seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights for every tensor of the published layout, BatchNorm statistics plausible."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, (_, shape) in inception.torch_layout().items():
        if name.endswith("conv.weight"):
            state[name] = (rng.normal(size=shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)
        elif name.endswith("running_var"):
            state[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            state[name.replace("running_var", "num_batches_tracked")] = np.array(0, np.int64)
        elif name.endswith("bn.weight"):
            state[name] = np.ones(shape, np.float32)
        else:
            state[name] = (0.01 * rng.normal(size=shape)).astype(np.float32)
    return state


def gan_jax_pool3(state: dict, images: np.ndarray) -> dict[str, np.ndarray]:
    """{'default': pool3, 'highest': pool3} of ``images`` through gan_jax's Inception."""
    flat = convert_inception.convert(state)
    params = traverse_util.unflatten_dict({k: jax.numpy.asarray(v) for k, v in flat.items()}, sep="/")
    features = jax.jit(inception.features_fn(params))
    out = {}
    for precision in ("default", "highest"):
        with jax.default_matmul_precision(None if precision == "default" else "highest"):
            out[precision] = np.asarray(jax.block_until_ready(features(images))[0])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--work", required=True, help="scratch folder for weights, images, features")
    args = parser.parse_args()
    sizes = suite_plan.load(args.plan)["fid"]
    os.makedirs(args.work, exist_ok=True)
    state = random_state_dict()
    images = np.random.default_rng(1).integers(
        0, 256, (sizes["images"], sizes["size"], sizes["size"], 3), dtype=np.uint8
    )
    np.savez(os.path.join(args.work, "fid_state.npz"), **state)
    np.save(os.path.join(args.work, "fid_images.npy"), images)
    pool3 = gan_jax_pool3(state, images)
    np.savez(os.path.join(args.work, "fid_pool3_gan_jax.npz"), **pool3)
    info = {"gan_jax_device": jax.devices()[0].device_kind, "gan_jax_backend": jax.default_backend()}
    with open(os.path.join(args.work, "fid_gan_jax.json"), "w") as f:
        json.dump(info, f)
    scale = float(np.abs(pool3["highest"]).max())
    print(f"gan_jax pool3 of {len(images)} images on {info['gan_jax_device']}: max |feature| {scale:.4g}")


if __name__ == "__main__":
    main()
