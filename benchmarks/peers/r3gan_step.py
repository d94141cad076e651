"""Times brownvc/R3GAN's training iteration on this CPU.

Run with a Python that has torch, beside (never inside) gan_jax; normally
`benchmarks/r3gan_vs_brownvc.py` launches it with the shapes of a gan_jax config:

    python benchmarks/peers/r3gan_step.py --checkout PATH/R3GAN --resolution 32 \
        --widths 64,64,64,64 --groups 8,8,8,8 --batch 32 --out peer.json

``--checkout`` defaults to $R3GAN_CHECKOUT. Everything that computes comes from the
checkout: ``training.networks.Generator`` / ``Discriminator`` built as its ``train.py``
builds them, ``training.loss.R3GANLoss`` (RpGAN with R1 and R2 every step, through
``R3GAN.Trainer.AdversarialTraining``) and ``torch.optim.Adam`` with β₁ = 0. What this file
adds is the iteration of ``training/training_loop.py`` minus its data loader and its
once-per-tick maintenance:

* two real batches (D's and G's, as the loop fetches them), held in memory as uint8 and
  converted to [-1, 1] floats; fresh z for each phase; one-hot labels for conditional nets;
* phase D then phase G, each: zero the gradients, enable the module's gradients,
  ``accumulate_gradients`` (gain 1: the whole batch on one device), flatten and split the
  gradients as the loop does, set lr and betas (0, β₂), Adam step;
* the EMA of G, ``p_ema ← lerp(p, p_ema, 0.5^(batch / ema_nimg))``, buffers copied.

lr, β₂, γ and the EMA length are held at ``--lr``, ``--beta2``, ``--gamma`` and
``--ema-nimg`` (their schedules cost a scalar each). No augmentation, float32. On a CPU
R3GAN's bias_act and upfirdn2d take their reference paths by themselves.

Timing: ``--warmup-steps`` untimed steps, then ``--cycles`` timed cycles of
``--cycle-steps``; ms per step is the median cycle over its length. torch uses ``--threads``
intra-op threads. Writes JSON (``--out``) and prints one summary line. ``--count-only``
prints the parameter counts of G and D as JSON and exits.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import r3gan_export  # noqa: E402
from stylegan2_step import checkout_commit  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkout",
        default=os.environ.get("R3GAN_CHECKOUT", ""),
        help="brownvc/R3GAN checkout (default: $R3GAN_CHECKOUT)",
    )
    p.add_argument("--out", default="", help="JSON result file")
    p.add_argument("--count-only", action="store_true", help="print parameter counts and exit")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--num-classes", type=int, default=0)
    p.add_argument("--z-dim", type=int, default=64)
    p.add_argument("--widths", type=r3gan_export._ints, default=[64, 64, 64, 64])
    p.add_argument("--blocks", type=r3gan_export._ints, default=[])
    p.add_argument("--groups", type=r3gan_export._ints, default=[])
    p.add_argument("--expansion", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta2", type=float, default=0.9)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--gamma", type=float, default=0.05)
    p.add_argument("--ema-nimg", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--cycle-steps", type=int, default=4)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = p.parse_args(argv)
    n = len(args.widths)
    args.blocks = args.blocks or [2] * n
    args.groups = args.groups or [w * args.expansion // 16 for w in args.widths]
    return args


def build_networks(networks, args):
    """(G, D) with R3GAN's own initialisation, in training mode."""
    import torch

    torch.manual_seed(args.seed)
    g_kw, d_kw = r3gan_export.constructor_kwargs(args)
    g, d = networks.Generator(**g_kw), networks.Discriminator(**d_kw)
    return g.train().requires_grad_(False), d.train().requires_grad_(False)


def count_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def make_iteration(args):
    import torch

    r3gan_export.import_checkout(args.checkout)
    from training import loss as r3gan_loss
    from training import networks

    g, d = build_networks(networks, args)
    g_ema = copy.deepcopy(g).eval()
    loss = r3gan_loss.R3GANLoss(G=g, D=d)
    phases = [
        {
            "name": name,
            "module": m,
            "opt": torch.optim.Adam(m.parameters(), lr=args.lr, betas=(0.0, args.beta2), eps=args.eps),
        }
        for name, m in (("D", d), ("G", g))
    ]
    rng = np.random.default_rng(args.seed)
    b, r, k = args.batch, args.resolution, args.num_classes
    reals = [torch.from_numpy(rng.integers(0, 256, (b, 3, r, r), dtype=np.uint8)) for _ in phases]
    g_params, ema_params = list(g.parameters()), list(g_ema.parameters())
    g_buffers, ema_buffers = list(g.buffers()), list(g_ema.buffers())

    def labels():
        if not k:
            return torch.zeros([b, 0])
        return torch.from_numpy(np.eye(k, dtype=np.float32)[rng.integers(0, k, b)])

    def iteration() -> None:
        for phase, real in zip(phases, reals):
            real_img = real.to(torch.float32) / 127.5 - 1
            gen_z = torch.randn([b, args.z_dim])
            opt, module = phase["opt"], phase["module"]
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            loss.accumulate_gradients(
                phase=phase["name"],
                real_img=real_img,
                real_c=labels(),
                gen_z=gen_z,
                gamma=args.gamma,
                gain=1.0,
            )
            module.requires_grad_(False)
            for group in opt.param_groups:
                group["lr"] = args.lr
                group["betas"] = (0.0, args.beta2)
            params = [p for p in module.parameters() if p.grad is not None]
            if params:
                flat = torch.cat([p.grad.flatten() for p in params])
                for p, grad in zip(params, flat.split([p.numel() for p in params])):
                    p.grad = grad.reshape(p.shape)
            opt.step()
        with torch.no_grad():
            beta = 0.5 ** (b / max(args.ema_nimg, 1e-8))
            for p_ema, p in zip(ema_params, g_params):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b_src in zip(ema_buffers, g_buffers):
                b_ema.copy_(b_src)

    return iteration, g, d


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.checkout or not os.path.isdir(os.path.join(args.checkout, "R3GAN")):
        sys.exit(f"no brownvc/R3GAN checkout at {args.checkout!r} (--checkout or $R3GAN_CHECKOUT)")
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    iteration, g, d = make_iteration(args)
    build_s = time.perf_counter() - start
    counts = {"g_params": count_params(g), "d_params": count_params(d)}
    if args.count_only:
        print(json.dumps(counts))
        return
    start = time.perf_counter()
    for _ in range(args.warmup_steps):
        iteration()
    warmup_s = time.perf_counter() - start
    cycle_s = []
    for _ in range(args.cycles):
        start = time.perf_counter()
        for _ in range(args.cycle_steps):
            iteration()
        cycle_s.append(time.perf_counter() - start)
    seconds = statistics.median(cycle_s) / args.cycle_steps
    result = {
        **counts,
        "ms_per_step": 1e3 * seconds,
        "images_per_s": args.batch / seconds,
        "cycle_steps": args.cycle_steps,
        "cycle_seconds": cycle_s,
        "warmup_seconds": warmup_s,
        "build_seconds": build_s,
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
        f"brownvc/R3GAN: {result['ms_per_step']:.1f} ms/step, {result['images_per_s']:.1f} "
        f"images/s (batch {args.batch}, {args.cycles} cycles of {args.cycle_steps} steps, "
        f"{args.threads} threads)"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
