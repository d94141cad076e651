"""The ``lpips`` package's LPIPS (VGG16, v0.1) on random trunk weights: its state dict,
its shipped heads, and its distances on given images, for gan_jax's parity test.

Run with a Python that has torch, torchvision and ``lpips`` (``pip install lpips``),
beside (never inside) gan_jax:

    $GAN_JAX_TORCH_PYTHON benchmarks/peers/lpips_reference.py --images images.npz --out DIR

The network is ``lpips.LPIPS(net='vgg', pretrained=True, pnet_rand=True)``: the heads the
package ships (``lpips/weights/v0.1/vgg.pth``) on a randomly initialised torchvision
VGG16, so nothing is downloaded. Every trunk parameter is then moved off its initial
value with a seeded generator (torchvision starts the biases at 0, which would hide a
bias that is lost or misplaced). ``images.npz`` holds pairs ``x_<name>``, ``y_<name>``
of (B, H, W, C) float32 images in [-1, 1]. Writes to DIR:

* ``lpips_state.npz``: ``model.state_dict()`` (``net.slice1.0.weight``, ..., ``lin0.model.1.weight``,
  ``lins.0.model.1.weight``, ``scaling_layer.shift``, ...);
* ``heads.npz``: the shipped heads file as it is (``lin0.model.1.weight``, ...);
* ``distances.npz``: ``d_<name>`` (B,), ``model(x, y)`` in float32 on the CPU, and
  ``d64_<name>``, the same network in float64.
"""

import argparse
import inspect
import os

import numpy as np
import torch


def build(seed: int) -> torch.nn.Module:
    """The ``lpips`` package's VGG16 LPIPS, random trunk (every parameter perturbed), shipped heads."""
    import lpips

    torch.manual_seed(seed)
    model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
    with torch.no_grad():
        for name, value in model.net.named_parameters():
            value.add_(torch.randn_like(value) * (0.1 if name.endswith("bias") else 0.2 * value.std()))
    return model.eval()


def shipped_heads() -> dict[str, np.ndarray]:
    import lpips

    path = os.path.join(os.path.dirname(inspect.getfile(lpips.LPIPS)), "weights", "v0.1", "vgg.pth")
    return {k: v.numpy() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}


def distances(model: torch.nn.Module, images: dict[str, np.ndarray], dtype) -> dict[str, np.ndarray]:
    model = model.to(dtype)
    out = {}
    for key in sorted(k for k in images if k.startswith("x_")):
        name = key[2:]
        x, y = (torch.from_numpy(images[f"{s}_{name}"]).permute(0, 3, 1, 2).to(dtype) for s in "xy")
        with torch.no_grad():
            out[name] = model(x, y).reshape(-1).double().numpy()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    model = build(args.seed)
    with np.load(args.images, allow_pickle=False) as f:
        images = {k: f[k] for k in f.files}
    os.makedirs(args.out, exist_ok=True)
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    np.savez(os.path.join(args.out, "lpips_state.npz"), **state)
    np.savez(os.path.join(args.out, "heads.npz"), **shipped_heads())
    single = distances(model, images, torch.float32)
    double = distances(model, images, torch.float64)
    result = {f"d_{k}": v.astype(np.float32) for k, v in single.items()}
    result.update({f"d64_{k}": v for k, v in double.items()})
    np.savez(os.path.join(args.out, "distances.npz"), **result)
    print(" ".join(f"{k}={v.tolist()}" for k, v in result.items()))


if __name__ == "__main__":
    main()
