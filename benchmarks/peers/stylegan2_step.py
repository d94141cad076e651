"""Times NVlabs' StyleGAN2 training iteration (stylegan2-ada-pytorch) on this CPU.

Run with a Python that has torch, beside (never inside) gan_jax; normally
`benchmarks/stylegan2_vs_nvlabs.py` launches it with the widths of a gan_jax config:

    python benchmarks/peers/stylegan2_step.py --checkout PATH/stylegan2-ada-pytorch \
        --resolution 32 --img-channels 1 --z-dim 128 --w-dim 128 --mapping-layers 2 \
        --channel-base 1024 --channel-max 64 --batch 32 --r1-gamma 0.01 --out peer.json

``--checkout`` defaults to $STYLEGAN2_ADA_PYTORCH. Everything that computes comes from the
checkout: ``training.networks.Generator`` / ``Discriminator``, ``training.loss.StyleGAN2Loss``
(style mixing, path length with its running mean, lazy R1) and ``torch.optim.Adam`` with the
lazy-regularisation scaling of ``training/training_loop.py`` (lr·c, β^c, c = k/(k+1)).
What this file adds is the iteration of that training loop, minus its data loader and its
once-per-tick maintenance:

* the real batch, held in memory as uint8, converted to [-1, 1] floats; fresh z for every
  phase and, for conditional networks, one-hot labels drawn with NumPy;
* the phases in NVlabs' order, Gmain, Greg (every ``--g-reg-interval``), Dmain, Dreg (every
  ``--d-reg-interval``), each: zero the gradients, enable the module's gradients,
  ``accumulate_gradients`` with gain = its interval (one round: the whole batch on one
  device), replace non-finite gradients (``misc.nan_to_num``), Adam step;
* the EMA of G with NVlabs' half-life and ramp-up, buffers copied.

No augmentation pipeline (ADA off), float32 everywhere unless ``--num-fp16-res``. The loss
object's w_avg update (in every phase that runs G), path-length mean and training_stats
reports are NVlabs' own work and are timed with the rest. On a CPU NVlabs' ops take their
reference (non-CUDA) paths by themselves: the custom bias_act / upfirdn2d kernels and
conv2d_gradfix only engage for CUDA tensors, so nothing has to be switched off.

Timing: ``--warmup-cycles`` untimed cycles of lcm(g_reg_interval, d_reg_interval) steps,
then ``--cycles`` timed cycles; ms per step is the median cycle over its length. torch
uses ``--threads`` intra-op threads. Writes JSON (``--out``) and prints one summary line.
``--count-only`` prints the parameter counts of G and D as JSON and exits.
"""

import argparse
import copy
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import types

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkout",
        default=os.environ.get("STYLEGAN2_ADA_PYTORCH", ""),
        help="stylegan2-ada-pytorch checkout (default: $STYLEGAN2_ADA_PYTORCH)",
    )
    p.add_argument("--out", default="", help="JSON result file")
    p.add_argument("--count-only", action="store_true", help="print parameter counts and exit")
    # Networks.
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--img-channels", type=int, default=3)
    p.add_argument("--num-classes", type=int, default=0)
    p.add_argument("--z-dim", type=int, default=512)
    p.add_argument("--w-dim", type=int, default=512)
    p.add_argument("--mapping-layers", type=int, default=8)
    p.add_argument("--mapping-lr-mul", type=float, default=0.01)
    p.add_argument("--w-avg-beta", type=float, default=0.995)
    p.add_argument("--channel-base", type=int, default=32768)
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--conv-clamp", type=float, default=256.0, help="0: off")
    p.add_argument("--num-fp16-res", type=int, default=0)
    p.add_argument("--mbstd-group", type=int, default=4)
    p.add_argument("--mbstd-channels", type=int, default=1)
    p.add_argument("--d-architecture", default="resnet", choices=("resnet", "orig", "skip"))
    # Training.
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--style-mixing-prob", type=float, default=0.9)
    p.add_argument("--r1-gamma", type=float, default=10.0)
    p.add_argument("--d-reg-interval", type=int, default=16, help="1: R1 in Dmain ('Dboth')")
    p.add_argument("--pl-weight", type=float, default=2.0)
    p.add_argument("--pl-decay", type=float, default=0.01)
    p.add_argument("--pl-batch-shrink", type=int, default=2)
    p.add_argument("--g-reg-interval", type=int, default=4, help="1: path length in Gmain ('Gboth')")
    for side in ("g", "d"):
        p.add_argument(f"--{side}-lr", type=float, default=0.0025)
        p.add_argument(f"--{side}-betas", type=float, nargs=2, default=(0.0, 0.99))
        p.add_argument(f"--{side}-eps", type=float, default=1e-8)
    p.add_argument("--ema-kimg", type=float, default=10.0)
    p.add_argument("--ema-rampup", type=float, default=0.05, help="0: none")
    # Timing.
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--warmup-cycles", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def import_checkout(checkout: str) -> types.SimpleNamespace:
    """NVlabs' modules, from the checkout (put first on sys.path; nothing is copied)."""
    sys.path.insert(0, os.path.abspath(checkout))
    try:
        import requests  # noqa: F401
    except ImportError:  # dnnlib imports it only to download pickles, which this never does
        sys.modules["requests"] = types.ModuleType("requests")
    from torch_utils import misc
    from torch_utils.ops import conv2d_gradfix
    from training import loss, networks

    # As the training loop sets it; on CPU tensors the op falls back to torch's own conv2d.
    conv2d_gradfix.enabled = True
    return types.SimpleNamespace(misc=misc, loss=loss, networks=networks)


def build_networks(nv, args) -> tuple:
    """NVlabs' (G, D) in training mode with gradients off, as the training loop makes them."""
    clamp = args.conv_clamp or None
    mapping = dict(
        num_layers=args.mapping_layers, lr_multiplier=args.mapping_lr_mul, w_avg_beta=args.w_avg_beta
    )
    g = nv.networks.Generator(
        z_dim=args.z_dim,
        c_dim=args.num_classes,
        w_dim=args.w_dim,
        img_resolution=args.resolution,
        img_channels=args.img_channels,
        mapping_kwargs=mapping,
        synthesis_kwargs=dict(
            channel_base=args.channel_base,
            channel_max=args.channel_max,
            num_fp16_res=args.num_fp16_res,
            conv_clamp=clamp,
        ),
    )
    d = nv.networks.Discriminator(
        c_dim=args.num_classes,
        img_resolution=args.resolution,
        img_channels=args.img_channels,
        architecture=args.d_architecture,
        channel_base=args.channel_base,
        channel_max=args.channel_max,
        num_fp16_res=args.num_fp16_res,
        conv_clamp=clamp,
        mapping_kwargs=dict(lr_multiplier=args.mapping_lr_mul),
        epilogue_kwargs=dict(mbstd_group_size=args.mbstd_group, mbstd_num_channels=args.mbstd_channels),
    )
    return g.train().requires_grad_(False), d.train().requires_grad_(False)


def count_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def make_phases(g, d, args) -> list[dict]:
    """[Gmain, Greg, Dmain, Dreg] (or Gboth / Dboth for an interval of 1), each with its
    network's Adam; a lazily regularised network's Adam gets lr·c and β^c, c = k/(k+1)."""
    import torch

    phases = []
    for name, module, interval in (("G", g, args.g_reg_interval), ("D", d, args.d_reg_interval)):
        side = name.lower()
        lr, betas = getattr(args, f"{side}_lr"), getattr(args, f"{side}_betas")
        eps = getattr(args, f"{side}_eps")
        c = interval / (interval + 1) if interval > 1 else 1.0
        opt = torch.optim.Adam(module.parameters(), lr=lr * c, betas=[b**c for b in betas], eps=eps)
        if interval > 1:
            phases += [
                dict(name=f"{name}main", module=module, opt=opt, interval=1),
                dict(name=f"{name}reg", module=module, opt=opt, interval=interval),
            ]
        else:
            phases.append(dict(name=f"{name}both", module=module, opt=opt, interval=1))
    return phases


def random_labels(rng: np.random.Generator, n: int, num_classes: int):
    """One-hot rows for n uniformly drawn classes; (n, 0) for an unconditional network."""
    import torch

    if not num_classes:
        return torch.zeros([n, 0])
    return torch.from_numpy(np.eye(num_classes, dtype=np.float32)[rng.integers(0, num_classes, n)])


def make_iteration(nv, args):
    """``iteration(batch_idx)``: one step of NVlabs' loop (phases + EMA), plus the nets."""
    import torch

    g, d = build_networks(nv, args)
    g_ema = copy.deepcopy(g).eval()
    loss = nv.loss.StyleGAN2Loss(
        device=torch.device("cpu"),
        G_mapping=g.mapping,
        G_synthesis=g.synthesis,
        D=d,
        augment_pipe=None,
        style_mixing_prob=args.style_mixing_prob,
        r1_gamma=args.r1_gamma,
        pl_batch_shrink=args.pl_batch_shrink,
        pl_decay=args.pl_decay,
        pl_weight=args.pl_weight,
    )
    phases = make_phases(g, d, args)
    rng = np.random.default_rng(args.seed)
    b, r = args.batch, args.resolution
    real_u8 = torch.from_numpy(rng.integers(0, 256, (b, args.img_channels, r, r), dtype=np.uint8))
    real_c = random_labels(rng, b, args.num_classes)
    g_params, ema_params = list(g.parameters()), list(g_ema.parameters())
    g_buffers, ema_buffers = list(g.buffers()), list(g_ema.buffers())

    def iteration(batch_idx: int) -> None:
        real = real_u8.to(torch.float32) / 127.5 - 1
        gen_z = torch.randn([len(phases) * b, args.z_dim]).split(b)
        gen_c = random_labels(rng, len(phases) * b, args.num_classes).split(b)
        for phase, z, c in zip(phases, gen_z, gen_c):
            if batch_idx % phase["interval"]:
                continue
            phase["opt"].zero_grad(set_to_none=True)
            phase["module"].requires_grad_(True)
            loss.accumulate_gradients(
                phase=phase["name"],
                real_img=real,
                real_c=real_c,
                gen_z=z,
                gen_c=c,
                sync=True,
                gain=phase["interval"],
            )
            phase["module"].requires_grad_(False)
            for p in phase["module"].parameters():
                if p.grad is not None:
                    nv.misc.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            phase["opt"].step()
        # cur_nimg counts the images before this step, as in the loop.
        half_life = args.ema_kimg * 1000
        if args.ema_rampup:
            half_life = min(half_life, batch_idx * b * args.ema_rampup)
        beta = 0.5 ** (b / max(half_life, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(ema_params, g_params):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b_src in zip(ema_buffers, g_buffers):
                b_ema.copy_(b_src)

    return iteration, g, d, phases


def checkout_commit(checkout: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.checkout or not os.path.isdir(os.path.join(args.checkout, "training")):
        sys.exit(
            f"no stylegan2-ada-pytorch checkout at {args.checkout!r} (--checkout or $STYLEGAN2_ADA_PYTORCH)"
        )
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    nv = import_checkout(args.checkout)
    start = time.perf_counter()
    iteration, g, d, phases = make_iteration(nv, args)
    build_s = time.perf_counter() - start
    counts = {"g_params": count_params(g), "d_params": count_params(d)}
    if args.count_only:
        print(json.dumps(counts))
        return

    cycle = math.lcm(max(args.g_reg_interval, 1), max(args.d_reg_interval, 1))
    step = 0
    cycle_s = []
    for _ in range(args.warmup_cycles + args.cycles):
        start = time.perf_counter()
        for _ in range(cycle):
            iteration(step)
            step += 1
        cycle_s.append(time.perf_counter() - start)
    warmup, timed = cycle_s[: args.warmup_cycles], cycle_s[args.warmup_cycles :]
    seconds = statistics.median(timed) / cycle
    result = {
        **counts,
        "ms_per_step": 1e3 * seconds,
        "images_per_s": args.batch / seconds,
        "cycle_steps": cycle,
        "cycle_seconds": timed,
        "warmup_seconds": sum(warmup),
        "build_seconds": build_s,
        "phases": [
            {
                "name": p["name"],
                "interval": p["interval"],
                "lr": p["opt"].param_groups[0]["lr"],
                "betas": list(p["opt"].param_groups[0]["betas"]),
            }
            for p in phases
        ],
        "args": {k: v for k, v in vars(args).items() if k not in ("out", "count_only")},
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "checkout_commit": checkout_commit(args.checkout),
        },
    }
    print(
        f"NVlabs stylegan2-ada-pytorch: {result['ms_per_step']:.1f} ms/step, "
        f"{result['images_per_s']:.1f} images/s (batch {args.batch}, {args.cycles} cycles of "
        f"{cycle} steps, {args.threads} threads)"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
