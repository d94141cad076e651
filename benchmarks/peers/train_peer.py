"""Trains NVlabs' StyleGAN2 or brownvc's R3GAN on given images in a given order, resumably,
keeping the EMA generator at given steps.

Run with a Python that has torch, beside (never inside) gan_jax; `benchmarks/training_curves.py`
writes the job and reads the snapshots:

    python benchmarks/peers/train_peer.py --peer nvlabs --checkout PATH --job job.json --dir DIR
    python benchmarks/peers/train_peer.py --peer r3gan --checkout PATH --job job.json --dir DIR --init-only

The loop is `stylegan2_steps.Loop` (NVlabs' phases, EMA and ADA around its own loss) or
`r3gan_steps.Loop` (brownvc's, with its schedules), drawing its randomness as the
references' loops do, from torch's generator seeded with the job's seed: per step NVlabs
draws one z per phase (``randn([phases · batch, z_dim])``, split), R3GAN D's z then G's.
The real batches are the job's: ``order`` (steps, K, batch) indexes ``images``; NVlabs
reads batch 0, R3GAN D batch 0 and G batch 1. Unconditional only.

The job (JSON): ``meta`` (the loop's arguments, as the *_steps.py plans hold them),
``images`` (an .npz with ``images`` uint8 (N, R, R, C)), ``order`` (.npy int (steps, K, B)),
``snapshots`` (the steps after which to keep G_ema), ``checkpoint_every`` (steps).

Files in ``--dir``: ``init.npz`` (the networks before training: ``G.*``, ``D.*``),
``snap_<step>.npz`` (``G_ema.*`` after that many steps), ``state.npz`` (everything to
resume: networks, Adam moments, path-length mean, augmentation p, counters, torch's RNG
state; written to a temporary name, then renamed), ``log.jsonl`` (a line per snapshot:
step, kimg, seconds of training so far). Started again on the same ``--dir`` it goes on
from ``state.npz``: the steps after it draw exactly what an uninterrupted run would.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peer_state  # noqa: E402
import r3gan_export  # noqa: E402
import r3gan_steps  # noqa: E402
import stylegan2_steps  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", choices=("nvlabs", "r3gan"), required=True)
    p.add_argument("--checkout", required=True)
    p.add_argument("--job", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--init-only", action="store_true", help="write init.npz and stop")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return p.parse_args(argv)


def make_loop(peer: str, checkout: str, meta: dict):
    if peer == "nvlabs":
        return stylegan2_steps.Loop(stylegan2_steps.import_checkout(checkout), meta)
    r3gan_export.import_checkout(checkout)
    return r3gan_steps.Loop(meta)


def step_inputs(peer: str, loop, images, order: np.ndarray, t: int):
    """``phase_inputs`` for step t, drawing z as the reference loop draws it."""
    import torch

    a = loop.args
    batches = [images[torch.from_numpy(order[t, k])] for k in range(order.shape[1])]
    no_c = torch.zeros([a.batch, 0])
    if peer == "nvlabs":
        z = dict(
            zip(
                (p["name"] for p in loop.phases),
                torch.randn([len(loop.phases) * a.batch, a.z_dim]).split(a.batch),
            )
        )
        return batches[0], no_c, lambda name: (z[name], no_c, None)
    z_d, z_g = torch.randn([a.batch, a.z_dim]), torch.randn([a.batch, a.z_dim])
    inputs = {"D": (batches[0], no_c, z_d, None), "G": (batches[-1], no_c, z_g, None)}
    return None, None, lambda name: inputs[name]


def train(args, job: dict) -> None:
    import torch

    loop = make_loop(args.peer, args.checkout, job["meta"])
    state_path = os.path.join(args.dir, "state.npz")
    if os.path.exists(state_path):
        peer_state.load_state(loop, state_path)
    with np.load(job["images"], allow_pickle=False) as f:
        images = torch.from_numpy(np.ascontiguousarray(f["images"].transpose(0, 3, 1, 2)))
    order = np.load(job["order"], allow_pickle=False)
    start_t = loop.cur_nimg // loop.args.batch
    last = max(job["snapshots"])
    log = open(os.path.join(args.dir, "log.jsonl"), "a")
    clock = time.perf_counter()
    for t in range(start_t, last):
        real, real_c, phase_inputs = step_inputs(args.peer, loop, images, order, t)
        if args.peer == "nvlabs":
            loop.step(real, real_c, phase_inputs)
        else:
            loop.step(phase_inputs)
        done = t + 1
        if done in job["snapshots"]:
            snap = {k: v for k, v in loop.snapshot("").items() if k.startswith("G_ema.")}
            np.savez(os.path.join(args.dir, f"snap_{done}.npz"), **snap)
        if done in job["snapshots"] or done % job["checkpoint_every"] == 0:
            peer_state.save_state(loop, state_path)
            seconds = time.perf_counter() - clock
            line = dict(step=done, kimg=done * loop.args.batch / 1000, seconds_this_start=seconds)
            log.write(json.dumps(line) + "\n")
            log.flush()
            print(f"{args.peer}: step {done}, {line['kimg']:.1f} kimg, {seconds:.0f} s", flush=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with open(args.job) as f:
        job = json.load(f)
    os.makedirs(args.dir, exist_ok=True)
    if args.init_only:
        loop = make_loop(args.peer, args.checkout, job["meta"])
        init = {k: v for k, v in loop.snapshot("").items() if k[:2] in ("G.", "D.")}
        np.savez(os.path.join(args.dir, "init.npz"), **init)
        return
    train(args, job)


if __name__ == "__main__":
    main()
