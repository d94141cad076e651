"""The peers' side of the GPU suite's reference models: NVlabs' and brownvc's own training
iterations, s/kimg over whole lazy cycles.

    $GAN_JAX_TORCH_PYTHON benchmarks/suite_reference_torch.py --plan OUT/plan.json \
        --peer nvlabs --checkout $STYLEGAN2_ADA_PYTORCH --out OUT/reference_nvlabs.jsonl

Runs in a Python with torch (no JAX), one peer per process (both checkouts name their
packages ``training`` and ``torch_utils``). For each precision and each of the plan's
reference models of that peer: the peer's loop (`peers/stylegan2_steps.Loop`: NVlabs'
networks, ``StyleGAN2Loss``, phases Gmain/Greg/Dmain/Dreg with its lazy Adam, EMA;
`peers/r3gan_steps.Loop`: brownvc's networks, ``R3GANLoss``, schedules, EMA) with the
arguments the plan derived from gan_jax's config (`peer_loops`), parameter counts checked
equal to gan_jax's, on CUDA when there is one (NVlabs' and R3GAN's custom CUDA kernels
then compile on first use, with the torch extension builder: the warm-up cycle pays for
it, and the row says whether they loaded), z drawn per step as the loops draw it, on
synthetic uint8 images. 'mixed' precision is NVlabs' float16 on its ``num_fp16_res``
highest resolutions, R3GAN's bfloat16 on its ``FP16Stages``; TF32 stays off, as both
codebases' training scripts leave it by default. Timing: ``cycles.warmup`` untimed cycles,
then the median of ``cycles.runs`` cycles of ``cycle_steps`` steps, each ending with
``torch.cuda.synchronize()``; peak memory from ``torch.cuda.max_memory_allocated``.

One JSON line per (model, precision), appended as soon as it is measured.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import time
import traceback

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))

import r3gan_export  # noqa: E402
import r3gan_steps  # noqa: E402
import stylegan2_steps  # noqa: E402


def peer_meta(entry: dict, precision: str, device: str) -> dict:
    meta = {**entry["peer_meta"], "device": device, "seed": 0}
    n = entry["reduced_res"] if precision == "mixed" else 0
    if entry["peer"] == "nvlabs":
        meta["num_fp16_res"] = n
    else:
        meta["fp16_stages"] = [-(i + 1) for i in range(n)]
    return meta


def plugins_loaded(peer: str) -> dict:
    """Whether the checkout's custom CUDA ops compiled and loaded (False: reference ops)."""
    from torch_utils.ops import bias_act, upfirdn2d

    return {"bias_act": bool(bias_act._init()), "upfirdn2d": bool(upfirdn2d._init())}


def make_loop(entry: dict, meta: dict, nv):
    if entry["peer"] == "nvlabs":
        return stylegan2_steps.Loop(nv, meta)
    return r3gan_steps.Loop(meta)


def cycle_fn(entry: dict, loop, device: str):
    """One lazy cycle of the loop on synthetic images, z drawn per step as the loop draws it."""
    a, b = loop.args, entry["batch"]
    res, ch = a.resolution, getattr(a, "img_channels", 3)
    real = torch.randint(0, 256, (2, b, ch, res, res), dtype=torch.uint8, device=device)
    no_c = torch.zeros([b, 0], device=device)

    def cycle():
        for _ in range(entry["cycle_steps"]):
            if entry["peer"] == "nvlabs":
                names = [p["name"] for p in loop.phases]
                z = dict(zip(names, torch.randn([len(names) * b, a.z_dim], device=device).split(b)))
                loop.step(real[0], no_c, lambda name: (z[name], no_c, None))
            else:
                z_d, z_g = torch.randn([b, a.z_dim], device=device), torch.randn([b, a.z_dim], device=device)
                inputs = {"D": (real[0], no_c, z_d, None), "G": (real[1], no_c, z_g, None)}
                loop.step(lambda name: inputs[name])

    return cycle


def measure(entry: dict, precision: str, cycles: dict, device: str, nv) -> dict:
    loop = make_loop(entry, peer_meta(entry, precision, device), nv)
    counts = (sum(p.numel() for p in loop.g.parameters()), sum(p.numel() for p in loop.d.parameters()))
    if counts != (entry["g_params"], entry["d_params"]):
        raise ValueError(
            f"the peer has {counts} (G, D) parameters, gan_jax {(entry['g_params'], entry['d_params'])}"
        )
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    cycle = cycle_fn(entry, loop, device)
    start = time.perf_counter()
    for _ in range(cycles["warmup"]):
        cycle()
    sync()
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(cycles["runs"]):
        start = time.perf_counter()
        cycle()
        sync()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times) / entry["cycle_steps"]
    row = {
        "model": entry["name"],
        "precision": precision,
        "framework": entry["peer"],
        "batch": entry["batch"],
        "params": list(counts),
        "step_ms": 1e3 * seconds,
        "s_per_kimg": seconds / entry["batch"] * 1000,
        "images_per_s": entry["batch"] / seconds,
        "warmup_s": warmup_s,
    }
    if device == "cuda":
        row["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        row["cuda_plugins"] = plugins_loaded(entry["peer"])
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--peer", choices=("nvlabs", "r3gan"), required=True)
    parser.add_argument("--checkout", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True
    nv = stylegan2_steps.import_checkout(args.checkout) if args.peer == "nvlabs" else None
    if args.peer == "r3gan":
        r3gan_export.import_checkout(args.checkout)
    print(f"torch {torch.__version__} on {device}, {args.peer}", file=sys.stderr)
    for precision in plan["precisions"]:
        for entry in (e for e in plan["reference"] if e["peer"] == args.peer):
            try:
                row = measure(entry, precision, plan["cycles"], device, nv)
            except Exception as e:  # one failed row is reported, the others still run
                traceback.print_exc()
                row = {
                    "model": entry["name"],
                    "precision": precision,
                    "framework": args.peer,
                    "error": f"{type(e).__name__}: {e}",
                }
            print(json.dumps(row))
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
