"""The PyTorch side of the GPU suite: the same steps on the peer networks, eager or compiled.

    $GAN_JAX_TORCH_PYTHON benchmarks/suite_torch_steps.py --plan OUT/plan.json --mode eager \
        --out OUT/torch_steps.jsonl

Runs in a Python with torch (no JAX needed). For each dtype and model of the plan: the
peer networks (`torch_peer.make_dcgan`, `torch_peer_resnet.make_sngan` / ``make_biggan``)
built from the plan's gan_jax config, their parameter counts checked equal to gan_jax's
(a mismatch fails the row before any timing), then `torch_peer_step.GANStep` (the same
step: n_critic D updates, one G update, EMA, the config's losses, Adam and DiffAugment)
timed as gan_jax is: the first call (warm-up, and compilation for ``--mode compile``)
measured apart, ``warmup`` more untimed runs, then the median of ``runs`` runs of ``steps``
steps, each ending with ``torch.cuda.synchronize()``.

Settings: CUDA when available, else CPU. ``cudnn.benchmark`` on (as XLA autotunes).
float32 rows allow TF32 tensor-core math for matmuls and convolutions, as JAX's default
precision does on GPU; bfloat16 rows run the forward passes under ``torch.autocast``
(float32 parameters, bfloat16 convolutions and matmuls), the analogue of gan_jax's
``model.dtype='bfloat16'``. ``--mode compile`` is ``torch.compile(step, mode='default')``.

One JSON line per (model, dtype), appended as soon as it is measured.
"""

import argparse
import gc
import json
import statistics
import sys
import time
import traceback
from types import SimpleNamespace

import torch

import torch_peer
import torch_peer_resnet
import torch_peer_step

PEERS = {
    "dcgan": torch_peer.make_dcgan,
    "sngan": torch_peer_resnet.make_sngan,
    "biggan": torch_peer_resnet.make_biggan,
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def namespace(value):
    """A JSON config as nested attributes (``config.model.dcgan.g_width``), as the peers read it."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: namespace(v) for k, v in value.items()})
    return value


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def median_seconds(fn, sync, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model: dict, dtype: str, mode: str, timing: dict, device: str) -> dict:
    config = namespace(model["config"])
    torch.manual_seed(0)
    g, d = PEERS[model["architecture"]](config)
    counts = (count_params(g), count_params(d))
    expected = (model["g_params"], model["d_params"])
    if counts != expected:
        raise ValueError(
            f"the peer has {counts} (G, D) parameters, gan_jax {expected}: not the same networks"
        )
    step = torch_peer_step.GANStep(
        g, d, config, device, DTYPES[dtype], compile_mode="default" if mode == "compile" else None
    )
    b, res, ch = model["batch"], config.dataset.resolution, config.dataset.channels
    classes = max(config.model.num_classes, 1)
    reals = [
        (torch.rand(b, ch, res, res, device=device) * 2 - 1).contiguous(memory_format=torch.channels_last)
        for _ in range(model["n_critic"])
    ]
    labels = [torch.randint(0, classes, (b,), device=device) for _ in range(model["n_critic"])]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def steps_run():
        for _ in range(timing["steps"]):
            out = step(reals, labels)
        return out

    start = time.perf_counter()
    step(reals, labels)
    sync()
    first_s = time.perf_counter() - start
    for _ in range(timing["warmup"]):
        steps_run()
    sync()
    seconds = median_seconds(steps_run, sync, timing["runs"]) / timing["steps"]
    row = {
        "model": model["name"],
        "dtype": dtype,
        "mode": mode,
        "batch": b,
        "params": list(counts),
        "step_ms": 1e3 * seconds,
        "images_per_s": b / seconds,
        "first_call_s": first_s,
    }
    if device == "cuda":
        row["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--mode", choices=("eager", "compile"), required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    print(f"torch {torch.__version__} on {device}, {args.mode}", file=sys.stderr)
    for dtype in plan["dtypes"]:
        for model in plan["models"]:
            try:
                row = measure(model, dtype, args.mode, plan["timing"], device)
            except Exception as e:  # one failed row is reported, the others still run
                traceback.print_exc()
                row = {
                    "model": model["name"],
                    "dtype": dtype,
                    "mode": args.mode,
                    "error": f"{type(e).__name__}: {e}",
                }
            print(json.dumps(row))
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            gc.collect()
            if args.mode == "compile":
                torch._dynamo.reset()
            if device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
