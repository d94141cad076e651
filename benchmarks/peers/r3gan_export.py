"""Builds brownvc/R3GAN's networks and writes their weights, fixed inputs and outputs to .npz.

Run with a Python that has torch, beside (never inside) gan_jax:

    python benchmarks/peers/r3gan_export.py --checkout PATH/R3GAN --out peer.npz \
        --resolution 32 --widths 96,96,96,96 --num-classes 10

``--checkout`` defaults to $R3GAN_CHECKOUT. The networks are R3GAN's
``training.networks.Generator`` / ``Discriminator`` built as its ``train.py`` builds them
(D's stages the reverse of G's; with classes, G's embedding is z-sized and D's is the
width of its 4×4 stage). The file holds (float32 unless said):

* ``G.<name>`` / ``D.<name>``: the state dicts, in R3GAN's layout (``Model.`` prefix);
* ``in.z`` (B, z_dim), ``in.c`` (B, classes; one-hot, or (B, 0)), ``in.labels`` (B,) int32,
  ``in.img`` (B, 3, R, R);
* ``out.img``: ``G(z, c)``; ``out.d``: ``D(in.img, c)``;
* ``meta.*``: the construction arguments (``meta.widths`` etc. as int arrays).

R3GAN initialises the last convolution of every residual block and every activation bias
to zero, which would hide layout errors in a comparison: every parameter is moved off its
initial value with a seeded generator first (zero tensors get N(0, 0.25/fan_in), the rest
gain N(0, (0.2·std)²) noise, biases N(0, 0.2²)). On a CPU R3GAN's bias_act and upfirdn2d
take their reference paths by themselves. R3GAN's networks have three image channels.
``--weights FILE`` loads trained weights instead (an .npz with ``G_ema.*`` or ``G.*``, and
``D.*``, e.g. a `train_peer.py` run's ``state.npz``), written back as ``G.*`` / ``D.*``.
"""

import argparse
import os
import sys
import types

import numpy as np


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkout",
        default=os.environ.get("R3GAN_CHECKOUT", ""),
        help="brownvc/R3GAN checkout (default: $R3GAN_CHECKOUT)",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--num-classes", type=int, default=0)
    p.add_argument("--z-dim", type=int, default=64)
    p.add_argument("--widths", type=_ints, default=[96, 96, 96, 96], help="G order, 4x4 first")
    p.add_argument("--blocks", type=_ints, default=[])
    p.add_argument("--groups", type=_ints, default=[], help="cardinality per stage")
    p.add_argument("--expansion", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default="", help="trained weights (.npz) instead of moved initial ones")
    args = p.parse_args(argv)
    n = len(args.widths)
    args.blocks = args.blocks or [2] * n
    args.groups = args.groups or [w * args.expansion // 16 for w in args.widths]
    return args


def import_checkout(checkout: str):
    sys.path.insert(0, os.path.abspath(checkout))
    try:
        import requests  # noqa: F401
    except ImportError:  # dnnlib imports it only to download pickles, which this never does
        sys.modules["requests"] = types.ModuleType("requests")
    from training import networks

    return networks


def constructor_kwargs(args) -> tuple[dict, dict]:
    """R3GAN's Generator and Discriminator arguments as its train.py passes them
    (``args.fp16_stages``, if set: the stages R3GAN computes in bfloat16, e.g. [-1, -2, -3])."""
    fp16 = list(getattr(args, "fp16_stages", []))
    g_kw = dict(
        NoiseDimension=args.z_dim,
        WidthPerStage=args.widths,
        CardinalityPerStage=args.groups,
        BlocksPerStage=args.blocks,
        ExpansionFactor=args.expansion,
        FP16Stages=fp16,
        c_dim=args.num_classes,
        img_resolution=args.resolution,
    )
    d_kw = dict(
        WidthPerStage=args.widths[::-1],
        CardinalityPerStage=args.groups[::-1],
        BlocksPerStage=args.blocks[::-1],
        ExpansionFactor=args.expansion,
        FP16Stages=[x + len(fp16) for x in fp16],  # as its train.py counts D's stages
        c_dim=args.num_classes,
        img_resolution=args.resolution,
    )
    if args.num_classes:
        g_kw["ConditionEmbeddingDimension"] = args.z_dim
        d_kw["ConditionEmbeddingDimension"] = args.widths[0]
    return g_kw, d_kw


def build(args, networks):
    """(G, D) as R3GAN's train.py builds them, seeded, every parameter moved off its init."""
    import torch

    torch.manual_seed(args.seed)
    g_kw, d_kw = constructor_kwargs(args)
    g, d = networks.Generator(**g_kw), networks.Discriminator(**d_kw)
    gen = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for net in (g, d):
            for name, p in net.named_parameters():
                noise = torch.randn(p.shape, generator=gen)
                if name.endswith("Bias"):
                    p.add_(0.2 * noise)
                elif float(p.abs().max()) == 0.0:
                    fan_in = p[0].numel()
                    p.copy_(0.5 * noise / fan_in**0.5)
                else:
                    p.add_(0.2 * float(p.std()) * noise)
    return g.eval(), d.eval()


def load_weights(args, networks, path: str):
    """(G, D) built as R3GAN's train.py builds them, holding the weights in ``path``
    (G from ``G_ema.*`` if the file has it, else ``G.*``)."""
    import peer_state

    g_kw, d_kw = constructor_kwargs(args)
    g, d = networks.Generator(**g_kw), networks.Discriminator(**d_kw)
    with np.load(path, allow_pickle=False) as f:
        arrays = dict(f)
    g_prefix = "G_ema." if any(k.startswith("G_ema.") for k in arrays) else "G."
    for prefix, net in ((g_prefix, g), ("D.", d)):
        peer_state.load_module(net, arrays, prefix)
    return g.eval(), d.eval()


def export(args) -> dict[str, np.ndarray]:
    import torch

    networks = import_checkout(args.checkout)
    g, d = load_weights(args, networks, args.weights) if args.weights else build(args, networks)
    rng = np.random.default_rng(args.seed + 2)
    b, k, r = args.batch, args.num_classes, args.resolution
    z = rng.standard_normal((b, args.z_dim)).astype(np.float32)
    labels = rng.integers(0, max(k, 1), b).astype(np.int32)
    c = np.eye(k, dtype=np.float32)[labels] if k else np.zeros((b, 0), np.float32)
    img = rng.standard_normal((b, 3, r, r)).astype(np.float32)
    tz, tc, timg = map(torch.from_numpy, (z, c, img))
    with torch.no_grad():
        out = {"out.img": g(tz, tc), "out.d": d(timg, tc)}
    arrays = {f"G.{n}": t.numpy() for n, t in g.state_dict().items()}
    arrays.update({f"D.{n}": t.numpy() for n, t in d.state_dict().items()})
    arrays.update({n: t.float().numpy() for n, t in out.items()})
    arrays.update({"in.z": z, "in.c": c, "in.labels": labels, "in.img": img})
    for name in ("resolution", "num_classes", "z_dim", "expansion", "batch", "seed"):
        arrays[f"meta.{name}"] = np.int32(getattr(args, name))
    for name in ("widths", "blocks", "groups"):
        arrays[f"meta.{name}"] = np.asarray(getattr(args, name), np.int32)
    return arrays


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.checkout or not os.path.isdir(os.path.join(args.checkout, "R3GAN")):
        sys.exit(f"no brownvc/R3GAN checkout at {args.checkout!r} (--checkout or $R3GAN_CHECKOUT)")
    arrays = export(args)
    np.savez(args.out, **arrays)
    print(f"wrote {len(arrays)} arrays to {args.out}")


if __name__ == "__main__":
    main()
