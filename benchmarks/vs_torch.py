"""gan_jax against the same GAN in PyTorch, timed side by side in one run.

    python benchmarks/vs_torch.py --configs dcgan_cifar10,dcgan_celeba64 --batch_sizes 128
    python benchmarks/vs_torch.py ... --variants "ops.conv_batch_slices=1;"   # before/after

For each config and batch size: gan_jax's compiled train step (`train_step.bench_one`),
then PyTorch eager and `torch.compile` running the same step (`torch_peer_step.GANStep`)
on the same network (`torch_peer`: parameter counts are checked equal to gan_jax's before
timing), same precision, same batch, median over the same number of runs. Prints images/s
and the ratios gan_jax / PyTorch, and writes JSON.
"""

import argparse
import os

import jax.numpy as jnp

import common
import torch_peer
import torch_peer_step
import train_step as jax_bench


def bench_torch(
    config, batch_size: int, dtype: str, mode: str, steps: int, runs: int, expected_params: tuple[int, int]
) -> dict:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    torch.manual_seed(0)
    g, d = torch_peer.make_dcgan(config)
    params = (torch_peer.count_params(g), torch_peer.count_params(d))
    if params != expected_params:
        raise SystemExit(
            f"PyTorch peer has {params} parameters, gan_jax {expected_params}: not the same network"
        )
    step = torch_peer_step.GANStep(
        g, d, config, device, torch_dtype, compile_mode="default" if mode == "compile" else None
    )
    res, ch = config.dataset.resolution, config.dataset.channels
    classes = max(config.model.num_classes, 1)
    reals = [
        (torch.rand(batch_size, ch, res, res, device=device) * 2 - 1).to(memory_format=torch.channels_last)
        for _ in range(config.n_critic)
    ]
    labels = [torch.randint(0, classes, (batch_size,), device=device) for _ in range(config.n_critic)]
    sync = (lambda _: torch.cuda.synchronize()) if device == "cuda" else (lambda _: None)

    def run():
        for _ in range(steps):
            out = step(reals, labels)
        return out

    seconds = common.median_time(run, sync, warmup=2, runs=runs) / steps
    return {"peer": f"torch {mode}", "images_per_s": batch_size / seconds, "step_ms": 1000 * seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="dcgan_cifar10,dcgan_celeba64")
    parser.add_argument("--batch_sizes", default="128")
    parser.add_argument("--dtypes", default="float32")
    parser.add_argument("--modes", default="eager,compile", help="PyTorch modes to time")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--variants",
        default="",
        help="';'-separated gan_jax variants, each a ','-separated list of section.field=value "
        "overrides ('' the config as is), each timed against the same PyTorch figures",
    )
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    info = common.machine()
    peaks = {dt: common.measured_peak_flops(jnp.dtype(dt)) for dt in args.dtypes.split(",")}
    print(f"{info['device']} ({info['backend']}), jax {info['jax']}, torch {info.get('torch')}")
    rows = []
    for name in args.configs.split(","):
        config = common.load_config(name)
        for batch_size in map(int, args.batch_sizes.split(",")):
            for dtype in args.dtypes.split(","):
                variants = [[o for o in v.split(",") if o] for v in args.variants.split(";")]
                ours_all = [
                    jax_bench.bench_one(name, batch_size, dtype, args.steps, args.runs, peaks[dtype], v)
                    for v in variants
                ]
                ours = ours_all[0]
                row = {
                    "config": name,
                    "batch": batch_size,
                    "dtype": dtype,
                    "params": f"{ours['g_params']:,}+{ours['d_params']:,}",
                }
                for variant, result in zip(variants, ours_all):
                    tag = "" if len(variants) == 1 else f" [{','.join(variant) or 'as is'}]"
                    row[f"gan_jax_img_s{tag}"] = result["images_per_s"]
                    row[f"mfu{tag}"] = result.get("mfu")
                for mode in args.modes.split(","):
                    peer = bench_torch(
                        config,
                        batch_size,
                        dtype,
                        mode,
                        args.steps,
                        args.runs,
                        (ours["g_params"], ours["d_params"]),
                    )
                    row[f"torch_{mode}_img_s"] = peer["images_per_s"]
                    for variant, result in zip(variants, ours_all):
                        tag = "" if len(variants) == 1 else f" [{','.join(variant) or 'as is'}]"
                        row[f"ratio_vs_{mode}{tag}"] = result["images_per_s"] / peer["images_per_s"]
                rows.append(row)
                common.print_table(rows[-1:], list(rows[-1]))
    print()
    common.print_table(rows, list(rows[0]))
    out = args.out or os.path.join(common.REPO, "benchmarks", "results", f"vs_torch_{info['backend']}.json")
    common.write_json(out, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
