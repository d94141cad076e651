"""Builds NVlabs' StyleGAN2 networks and writes their weights, fixed inputs and outputs to .npz.

Run with a Python that has torch, beside (never inside) gan_jax:

    python benchmarks/peers/stylegan2_export.py --checkout PATH/stylegan2-ada-pytorch \
        --out peer.npz --resolution 32 --num-classes 10 --channel-base 16384 --mapping-layers 2

``--checkout`` defaults to $STYLEGAN2_ADA_PYTORCH. The file holds (all float32 unless said):

* ``G.<name>`` / ``D.<name>``: the state dicts (parameters and buffers) of the Generator
  and the Discriminator, in NVlabs' layout (OIHW, [out, in]);
* ``in.z`` (B, z_dim), ``in.c`` (B, c_dim; one-hot rows, or (B, 0)), ``in.labels``
  (B,) int32 (the class ids of ``in.c``), ``in.img`` (B, C, R, R) the D input;
* ``out.ws`` (B, num_ws, w_dim): ``G.mapping(z, c)``;
* ``out.ws_trunc``: ``G.mapping(z, c, truncation_psi=TRUNC_PSI, truncation_cutoff=TRUNC_CUTOFF)``;
* ``out.img`` (B, C, R, R): ``G(z, c, noise_mode='const')`` in eval mode (fused modconv);
* ``out.img_nonfused``: the same with ``fused_modconv=False``;
* ``out.d`` (B,): ``D(in.img, c)``;
* ``meta.*``: the construction arguments, as int/float scalars (``meta.d_architecture``:
  a string array).

Every parameter is moved off its initial value (biases, noise strengths and w_avg
start at constants that would hide layout errors) with a seeded generator.
"""

import argparse
import os
import sys
import types

import numpy as np

TRUNC_PSI, TRUNC_CUTOFF = 0.7, 3


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkout",
        default=os.environ.get("STYLEGAN2_ADA_PYTORCH", ""),
        help="stylegan2-ada-pytorch checkout (default: $STYLEGAN2_ADA_PYTORCH)",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--img-channels", type=int, default=3)
    p.add_argument("--num-classes", type=int, default=0)
    p.add_argument("--z-dim", type=int, default=512)
    p.add_argument("--w-dim", type=int, default=512)
    p.add_argument("--mapping-layers", type=int, default=8)
    p.add_argument("--channel-base", type=int, default=32768)
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--conv-clamp", type=float, default=256.0, help="0: off")
    p.add_argument("--mbstd-group", type=int, default=4)
    p.add_argument("--d-architecture", default="resnet", choices=("resnet", "orig"))
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def build(args):
    """(G, D) from NVlabs' training.networks, seeded."""
    import torch

    sys.path.insert(0, os.path.abspath(args.checkout))
    try:
        import requests  # noqa: F401
    except ImportError:  # dnnlib imports it only to download pickles, which this never does
        sys.modules["requests"] = types.ModuleType("requests")
    from training import networks

    torch.manual_seed(args.seed)
    clamp = args.conv_clamp or None
    g = networks.Generator(
        z_dim=args.z_dim,
        c_dim=args.num_classes,
        w_dim=args.w_dim,
        img_resolution=args.resolution,
        img_channels=args.img_channels,
        mapping_kwargs=dict(num_layers=args.mapping_layers),
        synthesis_kwargs=dict(
            channel_base=args.channel_base, channel_max=args.channel_max, num_fp16_res=0, conv_clamp=clamp
        ),
    )
    d = networks.Discriminator(
        c_dim=args.num_classes,
        img_resolution=args.resolution,
        img_channels=args.img_channels,
        channel_base=args.channel_base,
        channel_max=args.channel_max,
        num_fp16_res=0,
        conv_clamp=clamp,
        architecture=args.d_architecture,
        epilogue_kwargs=dict(mbstd_group_size=args.mbstd_group),
    )
    gen = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for net in (g, d):
            for name, p in net.named_parameters():
                if name.endswith(("bias", "noise_strength")):
                    p.add_(0.2 * torch.randn(p.shape, generator=gen))
        g.mapping.w_avg.copy_(torch.randn(g.mapping.w_avg.shape, generator=gen))
    return g.eval(), d.eval()


def export(args) -> dict[str, np.ndarray]:
    import torch

    g, d = build(args)
    rng = np.random.default_rng(args.seed + 2)
    b, k = args.batch, args.num_classes
    z = rng.standard_normal((b, args.z_dim)).astype(np.float32)
    labels = rng.integers(0, max(k, 1), b).astype(np.int32)
    c = np.eye(k, dtype=np.float32)[labels] if k else np.zeros((b, 0), np.float32)
    r = args.resolution
    img = rng.standard_normal((b, args.img_channels, r, r)).astype(np.float32)
    tz, tc, timg = map(torch.from_numpy, (z, c, img))
    with torch.no_grad():
        ws = g.mapping(tz, tc)
        ws_trunc = g.mapping(tz, tc, truncation_psi=TRUNC_PSI, truncation_cutoff=TRUNC_CUTOFF)
        out = {
            "out.ws": ws,
            "out.ws_trunc": ws_trunc,
            "out.img": g.synthesis(ws, noise_mode="const"),
            "out.img_nonfused": g.synthesis(ws, noise_mode="const", fused_modconv=False),
            "out.d": d(timg, tc)[:, 0],
        }
    arrays = {f"G.{n}": t.numpy() for n, t in g.state_dict().items()}
    arrays.update({f"D.{n}": t.numpy() for n, t in d.state_dict().items()})
    arrays.update({n: t.numpy() for n, t in out.items()})
    arrays.update(
        {
            "in.z": z,
            "in.c": c,
            "in.labels": labels,
            "in.img": img,
            "meta.trunc_psi": np.float32(TRUNC_PSI),
            "meta.trunc_cutoff": np.int32(TRUNC_CUTOFF),
        }
    )
    for name in (
        "resolution",
        "img_channels",
        "num_classes",
        "z_dim",
        "w_dim",
        "mapping_layers",
        "channel_base",
        "channel_max",
        "mbstd_group",
        "batch",
        "seed",
    ):
        arrays[f"meta.{name}"] = np.int32(getattr(args, name))
    arrays["meta.conv_clamp"] = np.float32(args.conv_clamp)
    arrays["meta.d_architecture"] = np.array(args.d_architecture)  # a unicode array, no pickle
    return arrays


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.checkout or not os.path.isdir(os.path.join(args.checkout, "training")):
        sys.exit(
            f"no stylegan2-ada-pytorch checkout at {args.checkout!r} (--checkout or $STYLEGAN2_ADA_PYTORCH)"
        )
    arrays = export(args)
    np.savez(args.out, **arrays)
    print(f"wrote {len(arrays)} arrays to {args.out}")


if __name__ == "__main__":
    main()
