"""pytorch-fid's Inception on the suite's random weights and images, compared with gan_jax's.

    $GAN_JAX_TORCH_PYTHON benchmarks/peers/fid_inception_torch.py --work WORKDIR --out OUT/fid_inception.json

Run with a Python that has torch and pytorch-fid (``pip install pytorch-fid``), after
`benchmarks/suite_fid_inception.py` has written ``WORKDIR``. The network is pytorch-fid's own
``InceptionV3([3])`` (FID's pool3 block, with its resize to 299 and scaling to [-1, 1]); its
published weights are replaced by ``fid_state.npz`` through the function pytorch-fid loads
them with, so nothing is downloaded. Images are ``fid_images.npy`` as (N, 3, S, S) floats in
[0, 1], what pytorch-fid's own loader feeds it. CUDA when available.

Two settings, each against gan_jax's features at the matching one: ``default`` (each
framework's defaults; on GPU PyTorch's cuDNN convolutions may use TF32, as JAX's default
precision may) and ``highest`` (TF32 off in PyTorch, ``highest`` precision in JAX). Writes
the maximum and mean absolute difference of the pool3 features, and the largest feature
for scale.
"""

import argparse
import json
import os

import numpy as np
import torch


def pytorch_fid_network(state: dict[str, torch.Tensor], device: str) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (pool3 only) with ``state`` in place of the published weights."""
    import pytorch_fid.inception as fid_inception

    published_loader = fid_inception.load_state_dict_from_url
    fid_inception.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        block = fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]
        net = fid_inception.InceptionV3([block])
    finally:
        fid_inception.load_state_dict_from_url = published_loader
    return net.to(device).eval()


def pool3(net: torch.nn.Module, images: np.ndarray, device: str, tf32: bool) -> np.ndarray:
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).to(device)
    with torch.no_grad():
        return net(x)[0][:, :, 0, 0].cpu().numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import pytorch_fid

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with np.load(os.path.join(args.work, "fid_state.npz"), allow_pickle=False) as f:
        state = {k: torch.from_numpy(f[k]) for k in f.files}
    images = np.load(os.path.join(args.work, "fid_images.npy"), allow_pickle=False)
    with np.load(os.path.join(args.work, "fid_pool3_gan_jax.npz"), allow_pickle=False) as f:
        ours = {k: f[k] for k in f.files}
    with open(os.path.join(args.work, "fid_gan_jax.json")) as f:
        result = json.load(f)
    net = pytorch_fid_network(state, device)
    default_tf32 = torch.backends.cudnn.allow_tf32
    result.update(
        torch=torch.__version__,
        pytorch_fid=pytorch_fid.__version__,
        torch_device=torch.cuda.get_device_name() if device == "cuda" else "cpu",
        images=list(images.shape),
        feature_max_abs=float(np.abs(ours["highest"]).max()),
    )
    for setting, tf32 in (("default", default_tf32), ("highest", False)):
        theirs = pool3(net, images, device, tf32)
        diff = np.abs(theirs.astype(np.float64) - ours[setting].astype(np.float64))
        result[setting] = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
        print(f"pool3, {setting} precision: max |gan_jax - pytorch-fid| = {diff.max():.3g}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
