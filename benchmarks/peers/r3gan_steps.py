"""Runs K whole training steps of brownvc/R3GAN on given inputs and draws.

Run with a Python that has torch, beside (never inside) gan_jax; `tests/training/test_parity_steps.py`
writes the plan and reads the result:

    python benchmarks/peers/r3gan_steps.py --checkout PATH/R3GAN --plan plan.npz --out peer.npz

``--checkout`` defaults to $R3GAN_CHECKOUT. Everything that computes is the checkout's:
``training.networks`` (G and D built as its ``train.py`` builds them), ``training.loss.R3GANLoss``
(RpGAN with R1 and R2 through ``R3GAN.Trainer``), ``training.augment.AugmentPipe`` with the
arguments of its ``train.py --aug``, and every schedule by ``training.training_loop
.cosine_decay_with_warmup``. What this file adds is the body of its loop's ``while True``,
in its order: D's real batch and z, G's real batch and z; the learning rate, β₂, γ, EMA
length and augmentation probability at ``cur_nimg`` (the images before the step); phase D
then phase G, each: zero the gradients, enable the module's, ``accumulate_gradients`` (one
round, gain 1), set every group's lr and betas (0, β₂), Adam step; the EMA of G with
β = 0.5^(batch / max(ema_nimg, 1e-8)), buffers copied; ``cur_nimg += batch``. Adam's β₁ is
written 0.0 where brownvc writes 0: the torch this runs with refuses an int beside a float.

The plan (.npz) holds ``meta`` (JSON: the networks' arguments, batch, the schedules'
base/final values and length, Adam's ε, ``steps``, ``seed``) and per step t: ``t<t>.real0``,
``t<t>.real0_c`` (D's batch), ``t<t>.real1``, ``t<t>.real1_c`` (G's), and per phase P in (D, G)
``t<t>.<P>.gen_z`` and ``t<t>.<P>.r0.aug`` (the AugmentPipe's draws, one call after another;
`fed_random`). Nothing is drawn during the steps.

The result (.npz): ``init.G.*`` / ``init.D.*`` / ``init.G_ema.*`` before training, and after
each step t: ``t<t>.G.*``, ``t<t>.D.*``, ``t<t>.G_ema.*`` and ``t<t>.lr``, ``.beta2``,
``.gamma``, ``.ema_beta``, ``.aug_p``: the values the step used.

``--state`` starts instead from a `train_peer.py` run's ``state.npz`` (trained networks,
G_ema, Adam's moments and counts; `peer_state`) at the plan's ``start`` step (the image
count ``start · batch`` sets the schedules), and the steps are ``start, start + 1, …``; the
result then also holds Adam's moments, ``adam.<G|D>.exp_avg.<name>``, ``.exp_avg_sq.<name>``
and ``.step``. ``--perturb s`` moves every starting weight w of G, D and G_ema to
w + s·w·N(0, 1):
with s = 1e-7, a change of float32 rounding's size, to measure how fast the networks carry
such a change from step to step.
"""

import argparse
import copy
import json
import os
import sys
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fed_random  # noqa: E402
import peer_state  # noqa: E402
import r3gan_export  # noqa: E402
from stylegan2_steps import state_dict  # noqa: E402

AUGMENT = dict(  # brownvc/R3GAN train.py, --aug
    xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
    brightness=0.5, contrast=0.5, lumaflip=0.5, hue=0.5, saturation=0.5, cutout=1,
)  # fmt: skip
SCHEDULES = ("lr", "beta2", "gamma", "ema", "aug")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkout",
        default=os.environ.get("R3GAN_CHECKOUT", ""),
        help="brownvc/R3GAN checkout (default: $R3GAN_CHECKOUT)",
    )
    p.add_argument("--plan", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--state", default="", help="a train_peer.py state.npz to start from")
    p.add_argument("--perturb", type=float, default=0.0, help="relative change to the starting weights")
    return p.parse_args(argv)


class Loop:
    """R3GAN's networks, loss, optimizers, schedules and EMA for one run of the plan."""

    def __init__(self, meta: dict):
        import torch
        from training import augment, loss, networks, training_loop

        args = types.SimpleNamespace(**meta)
        torch.manual_seed(args.seed)
        self.device = torch.device(meta.get("device", "cpu"))
        g_kw, d_kw = r3gan_export.constructor_kwargs(args)
        self.g = networks.Generator(**g_kw).train().requires_grad_(False).to(self.device)
        self.d = networks.Discriminator(**d_kw).train().requires_grad_(False).to(self.device)
        self.g_ema = copy.deepcopy(self.g).eval()
        self.augment_pipe = None
        if args.aug:
            self.augment_pipe = augment.AugmentPipe(**AUGMENT).train().requires_grad_(False).to(self.device)
        self.loss = loss.R3GANLoss(G=self.g, D=self.d, augment_pipe=self.augment_pipe)
        self.phases = [
            dict(
                name=name,
                module=module,
                opt=torch.optim.Adam(module.parameters(), betas=[0.0, 0.0], eps=args.eps),
            )
            for name, module in (("D", self.d), ("G", self.g))
        ]
        self.decay = training_loop.cosine_decay_with_warmup
        self.args, self.cur_nimg = args, 0

    def schedule(self) -> dict[str, float]:
        """Every scheduled value at ``cur_nimg``, as the loop computes them."""
        a = self.args
        return {
            name: self.decay(self.cur_nimg, base_value=base, final_value=final, total_nimg=a.decay_nimg)
            for name, (base, final) in a.schedules.items()
        }

    def run_phase(self, phase: dict, real_u8, real_c, gen_z, values: dict) -> None:
        import torch

        img = real_u8.to(self.device).to(torch.float32) / 127.5 - 1
        real_c, gen_z = real_c.to(self.device), gen_z.to(self.device)
        phase["opt"].zero_grad(set_to_none=True)
        phase["module"].requires_grad_(True)
        self.loss.accumulate_gradients(
            phase=phase["name"], real_img=img, real_c=real_c, gen_z=gen_z, gamma=values["gamma"], gain=1
        )
        phase["module"].requires_grad_(False)
        for group in phase["opt"].param_groups:
            group["lr"] = values["lr"]
            group["betas"] = (0.0, values["beta2"])
        phase["opt"].step()

    def step(self, phase_inputs) -> dict[str, float]:
        """One iteration; ``phase_inputs(name)`` gives phase D's and G's (uint8 images
        (B, C, R, R), one-hot classes, z, before) with ``before()`` run first (feeding)."""
        import torch

        values = self.schedule()
        if self.augment_pipe is not None:
            self.augment_pipe.p.copy_(torch.as_tensor(values["aug"]))
        for phase in self.phases:
            real_u8, real_c, gen_z, before = phase_inputs(phase["name"])
            if before is not None:
                before()
            self.run_phase(phase, real_u8, real_c, gen_z, values)
        ema_beta = 0.5 ** (self.args.batch / max(values["ema"], 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.g_ema.parameters(), self.g.parameters()):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(self.g_ema.buffers(), self.g.buffers()):
                b_ema.copy_(b)
        self.cur_nimg += self.args.batch
        return {**values, "ema_beta": ema_beta}

    def snapshot(self, prefix: str) -> dict[str, np.ndarray]:
        out = {**state_dict(f"{prefix}G.", self.g), **state_dict(f"{prefix}D.", self.d)}
        out.update(state_dict(f"{prefix}G_ema.", self.g_ema))
        return out


def perturb(loop, scale: float, seed: int = 7) -> None:
    """Every weight w of G, D and G_ema moved to w + scale·w·N(0, 1)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in (loop.g, loop.d, loop.g_ema):
            for p in net.parameters():
                p.add_(p * scale * torch.randn(p.shape, generator=gen).to(p.device))


def start_loop(args, meta: dict, start: int):
    """The loop at step ``start``: built and seeded, or a saved run's state at that image count."""
    loop = Loop(meta)
    if args.state:
        peer_state.load_state(loop, args.state)
    loop.cur_nimg = start * loop.args.batch
    if args.perturb:
        perturb(loop, args.perturb)
    return loop


def planned_inputs(plan: dict, feeder, t: int):
    """``phase_inputs`` for step t of a plan: D on real0, G on real1, each phase's z, its
    augmentation draws fed before it runs."""
    import torch

    def phase_inputs(name: str):
        key, real = f"t{t}.{name}", "real0" if name == "D" else "real1"
        before = lambda: feeder.load(key, fed_random.entries(plan, f"{key}.r0.aug"))  # noqa: E731
        tensors = (plan[f"t{t}.{real}"], plan[f"t{t}.{real}_c"], plan[f"{key}.gen_z"])
        return (*map(torch.from_numpy, tensors), before)

    return phase_inputs


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.checkout or not os.path.isdir(os.path.join(args.checkout, "training")):
        sys.exit(f"no brownvc/R3GAN checkout at {args.checkout!r} (--checkout or $R3GAN_CHECKOUT)")
    import torch

    torch.set_num_threads(1)
    r3gan_export.import_checkout(args.checkout)
    from training import augment

    with np.load(args.plan, allow_pickle=False) as f:
        plan = dict(f)
    meta = json.loads(str(plan["meta"]))
    start = int(plan.get("start", 0))
    loop = start_loop(args, meta, start)
    out = {**loop.snapshot("init."), **(peer_state.adam_moments(loop) if args.state else {})}
    feeder = fed_random.Feeder(torch, "training.augment")
    augment.torch = feeder
    for t in range(start, start + meta["steps"]):
        values = loop.step(planned_inputs(plan, feeder, t))
        feeder.check_empty()
        out.update(loop.snapshot(f"t{t}."))
        out.update({f"t{t}.{name}": np.float64(v) for name, v in values.items()})
    np.savez(args.out, **out)
    print(f"R3GAN: {meta['steps']} steps, wrote {len(out)} arrays to {args.out}")


if __name__ == "__main__":
    main()
