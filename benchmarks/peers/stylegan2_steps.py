"""Runs K whole training steps of NVlabs' stylegan2-ada-pytorch on given inputs and draws.

Run with a Python that has torch, beside (never inside) gan_jax; `tests/training/test_parity_steps.py`
writes the plan and reads the result:

    python benchmarks/peers/stylegan2_steps.py --checkout PATH/stylegan2-ada-pytorch \
        --plan plan.npz --out peer.npz

``--checkout`` defaults to $STYLEGAN2_ADA_PYTORCH. Everything that computes is the
checkout's: ``training.networks`` (G, D), ``training.loss.StyleGAN2Loss`` (style mixing,
path length with its running mean, lazy R1, the augmentation of every D input),
``training.augment.AugmentPipe`` and ``torch_utils.training_stats`` (ADA's tally). What this
file adds is the body of ``training/training_loop.py``'s ``while True`` loop, in its order:
for each phase of [Gmain, Greg, Dmain, Dreg] due at ``batch_idx`` (``batch_idx %
interval``): zero the gradients, enable the module's, one ``accumulate_gradients`` per
round of ``batch_gpu`` images with gain = the interval, ``misc.nan_to_num`` on the
gradients, Adam step (lr·c, β^c for a lazily regularised network, c = k/(k+1)); then the
EMA of G (``ema_nimg = min(ema_kimg·1000, cur_nimg·ema_rampup)``, ``cur_nimg`` before the
step; buffers copied), ``cur_nimg += batch``, ``batch_idx += 1`` and, every
``ada_interval`` steps, ``p ← max(p + sign(E[sign D(x)] − target)·batch·interval/(kimg·1000), 0)``.

The plan (.npz) holds ``meta`` (JSON: the networks' and the loop's arguments, ``steps``,
``seed``), and per step t: ``t<t>.real0`` (B, C, R, R) uint8, ``t<t>.real0_c`` (B, c_dim), and
per phase P and round r: ``t<t>.<P>.gen_z``, ``t<t>.<P>.gen_c`` (the phase's whole batch)
and three queues of draws (`fed_random`) for the phase's r-th round: ``t<t>.<P>.r<r>.net``
(per-pixel noise, in layer order), ``.loss`` (style mixing's cut-off, coin and second z;
path length's noise) and ``.aug`` (the AugmentPipe's draws, one D call after another).
A phase the plan gives no inputs (NVlabs' Greg when path length is off, which computes
nothing but still exists) gets zeros. `Loop` itself takes any z and classes and draws
nothing of its own; `benchmarks/peers/train_peer.py` trains with it. The networks are built from ``seed`` as the training
loop builds them; nothing is drawn during the steps: every random call is fed.

The result (.npz): ``init.G.*`` / ``init.D.*`` the state dicts before training, and after
each step t: ``t<t>.G.*``, ``t<t>.D.*``, ``t<t>.G_ema.*``, ``t<t>.pl_mean``, ``t<t>.ada_p``.
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
from stylegan2_step import build_networks, import_checkout, make_phases  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkout",
        default=os.environ.get("STYLEGAN2_ADA_PYTORCH", ""),
        help="stylegan2-ada-pytorch checkout (default: $STYLEGAN2_ADA_PYTORCH)",
    )
    p.add_argument("--plan", required=True)
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def state_dict(prefix: str, module) -> dict[str, np.ndarray]:
    return {f"{prefix}{k}": v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def install_feeders(checkout: str) -> dict:
    """Feeders for the torch of NVlabs' networks, loss and augmentation modules."""
    import torch
    from training import augment, loss, networks

    feeders = {}
    for name, module in (("net", networks), ("loss", loss), ("aug", augment)):
        feeders[name] = fed_random.Feeder(torch, f"training.{module.__name__.split('.')[-1]}")
        module.torch = feeders[name]
    return feeders


class Loop:
    """NVlabs' networks, loss, phases, EMA and ADA state for one run of the plan."""

    def __init__(self, nv, meta: dict):
        import torch
        from torch_utils import training_stats
        from training import augment

        args = types.SimpleNamespace(**meta)
        torch.manual_seed(meta["seed"])
        self.args, self.misc = args, nv.misc
        self.device = torch.device(meta.get("device", "cpu"))  # cuda: NVlabs' own CUDA kernels
        self.g, self.d = (net.to(self.device) for net in build_networks(nv, args))
        self.g_ema = copy.deepcopy(self.g).eval()
        self.augment_pipe = None
        if args.augpipe:
            self.augment_pipe = augment.AugmentPipe(**{op: 1 for op in args.augpipe})
            self.augment_pipe.train().requires_grad_(False).to(self.device)
            self.augment_pipe.p.copy_(torch.as_tensor(args.ada_p))
        self.loss = nv.loss.StyleGAN2Loss(
            device=self.device,
            G_mapping=self.g.mapping,
            G_synthesis=self.g.synthesis,
            D=self.d,
            augment_pipe=self.augment_pipe,
            style_mixing_prob=args.style_mixing_prob,
            r1_gamma=args.r1_gamma,
            pl_batch_shrink=args.pl_batch_shrink,
            pl_decay=args.pl_decay,
            pl_weight=args.pl_weight,
        )
        self.phases = make_phases(self.g, self.d, args)
        self.ada_stats = None
        if self.augment_pipe is not None and args.ada_target is not None:
            self.ada_stats = training_stats.Collector(regex="Loss/signs/real")
        self.cur_nimg, self.batch_idx = 0, 0

    def run_phase(self, phase: dict, real_img, real_c, gen_z, gen_c, before_round=None) -> None:
        """One phase on the step's real batch and the phase's z and classes, in rounds of
        ``batch_gpu``; ``before_round(r)`` runs before round r (feeding its draws)."""
        a = self.args
        phase["opt"].zero_grad(set_to_none=True)
        phase["module"].requires_grad_(True)
        rounds = zip(
            real_img.split(a.batch_gpu),
            real_c.split(a.batch_gpu),
            gen_z.split(a.batch_gpu),
            gen_c.split(a.batch_gpu),
        )
        for r, (img, c, z, zc) in enumerate(rounds):
            if before_round is not None:
                before_round(r)
            self.loss.accumulate_gradients(
                phase=phase["name"],
                real_img=img,
                real_c=c,
                gen_z=z,
                gen_c=zc,
                sync=True,
                gain=phase["interval"],
            )
        phase["module"].requires_grad_(False)
        for param in phase["module"].parameters():
            if param.grad is not None:
                self.misc.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
        phase["opt"].step()

    def step(self, real_u8, real_c, phase_inputs) -> None:
        """One iteration of the loop on uint8 images (B, C, R, R) and their one-hot classes;
        ``phase_inputs(name)`` gives each due phase's (z, classes, before_round)."""
        import torch

        a = self.args
        real_img = real_u8.to(self.device).to(torch.float32) / 127.5 - 1
        real_c = real_c.to(self.device)
        for phase in self.phases:
            if self.batch_idx % phase["interval"] != 0:
                continue
            gen_z, gen_c, before_round = phase_inputs(phase["name"])
            self.run_phase(
                phase, real_img, real_c, gen_z.to(self.device), gen_c.to(self.device), before_round
            )
        ema_nimg = a.ema_kimg * 1000
        if a.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * a.ema_rampup)
        ema_beta = 0.5 ** (a.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.g_ema.parameters(), self.g.parameters()):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(self.g_ema.buffers(), self.g.buffers()):
                b_ema.copy_(b)
        self.cur_nimg += a.batch
        self.batch_idx += 1
        if self.ada_stats is not None and self.batch_idx % a.ada_interval == 0:
            self.ada_stats.update()
            adjust = (
                np.sign(self.ada_stats["Loss/signs/real"] - a.ada_target)
                * (a.batch * a.ada_interval)
                / (a.ada_kimg * 1000)
            )
            p = self.augment_pipe.p
            p.copy_((p + adjust).max(self.misc.constant(0, device=p.device)))

    def snapshot(self, prefix: str) -> dict[str, np.ndarray]:
        out = {**state_dict(f"{prefix}G.", self.g), **state_dict(f"{prefix}D.", self.d)}
        out.update(state_dict(f"{prefix}G_ema.", self.g_ema))
        out[f"{prefix}pl_mean"] = self.loss.pl_mean.detach().cpu().numpy().copy()
        p = self.augment_pipe.p.detach().cpu().numpy() if self.augment_pipe is not None else 0.0
        out[f"{prefix}ada_p"] = np.array(p, np.float32)  # a copy: .numpy() shares the buffer
        return out


def planned_inputs(plan: dict, feeders: dict, t: int, args):
    """``phase_inputs`` for step t of a plan: its z and classes, its draws fed round by round."""
    import torch

    def phase_inputs(name: str):
        key = f"t{t}.{name}"
        if f"{key}.gen_z" not in plan:  # a phase that computes nothing here (Greg without path length)
            return torch.zeros([args.batch, args.z_dim]), torch.zeros([args.batch, args.num_classes]), None

        def before_round(r: int) -> None:
            for feeder_name, feeder in feeders.items():
                feeder.load(f"{key} round {r}", fed_random.entries(plan, f"{key}.r{r}.{feeder_name}"))

        return torch.from_numpy(plan[f"{key}.gen_z"]), torch.from_numpy(plan[f"{key}.gen_c"]), before_round

    return phase_inputs


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.checkout or not os.path.isdir(os.path.join(args.checkout, "training")):
        sys.exit(
            f"no stylegan2-ada-pytorch checkout at {args.checkout!r} (--checkout or $STYLEGAN2_ADA_PYTORCH)"
        )
    import torch

    torch.set_num_threads(1)
    nv = import_checkout(args.checkout)
    with np.load(args.plan, allow_pickle=False) as f:
        plan = dict(f)
    meta = json.loads(str(plan["meta"]))
    loop = Loop(nv, meta)
    out = loop.snapshot("init.")
    feeders = install_feeders(args.checkout)
    for t in range(meta["steps"]):
        real, real_c = torch.from_numpy(plan[f"t{t}.real0"]), torch.from_numpy(plan[f"t{t}.real0_c"])
        loop.step(real, real_c, planned_inputs(plan, feeders, t, loop.args))
        for feeder in feeders.values():
            feeder.check_empty()
        out.update(loop.snapshot(f"t{t}."))
    np.savez(args.out, **out)
    print(f"NVlabs: {meta['steps']} steps, wrote {len(out)} arrays to {args.out}")


if __name__ == "__main__":
    main()
