"""Input pipeline throughput against the train step's consumption rate, in one run.

    python benchmarks/input_pipeline.py --config dcgan_fashion_mnist --batch_size 128
    python benchmarks/input_pipeline.py --config dcgan_celeba64 --batch_size 64 \\
        --pack /data/pack64 --workers 0,1,2
    python benchmarks/input_pipeline.py --config stylegan2_ffhq256 --batch_size 32 \\
        --pack /data/pack256 --workers 0,1,2 --step_overrides model.stylegan2.channel_max=64

The pipeline (`gan_jax.data.pipeline.batches`: index arithmetic, reading and decoding the batch,
host-to-device transfer, prefetch thread) is drained on its own and timed in images/s;
then the config's compiled train step is timed on device-resident batches
(`train_step.bench_one`) and its consumption (batch × n_critic per step) set against it.
The ratio pipeline / step says how much headroom the input has (the goal on accelerators
is ≥ 5×).

Data: the config's dataset (decoded into memory), or with ``--pack DIR`` a packed
dataset (`python -m gan_jax.tools.dataset_tool`) streamed and decoded per batch, once per
``--workers`` value (0: in the prefetch thread; W > 0: W grain worker processes). Without
the config's dataset on disk, ``--synthetic`` uses a random in-memory dataset of its shape.
"""

import argparse
import os
import tempfile
import time

import jax
import numpy as np

import common
import train_step as jax_bench
from gan_jax import parallel
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets
from gan_jax.data.packed import read_info


def pipeline_images_per_s(config, steps: int, warmup: int = 20) -> float:
    """Images/s the pipeline delivers to the devices, over ``steps`` batches after ``warmup``
    (which covers the start of the prefetch thread and of grain's worker processes)."""
    dataset = datasets.load_dataset(config.dataset)
    mesh = parallel.create_mesh()
    it = data.batches(dataset, config, mesh, 0, steps + warmup)
    for _ in range(warmup):
        jax.block_until_ready(next(it))
    start = time.perf_counter()
    for batch in it:
        jax.block_until_ready(batch)
    seconds = time.perf_counter() - start
    return steps * config.batch_size * config.n_critic / seconds


def _on_pack(config, path: str) -> None:
    info = read_info(path)
    config.dataset.update(
        source="packed", path=path, resolution=info["resolution"], channels=info["channels"], max_examples=0
    )


def _synthetic(config) -> None:
    res, ch = config.dataset.resolution, config.dataset.channels
    rng = np.random.default_rng(0)
    path = os.path.join(tempfile.mkdtemp(), "synthetic.npz")
    np.savez(
        path,
        images=rng.integers(0, 256, (50_000, res, res, ch), dtype=np.uint8),
        labels=rng.integers(0, 10, 50_000).astype(np.int32),
    )
    config.dataset.update(source="npz", path=path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dcgan_fashion_mnist")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200, help="batches drawn from the pipeline per row")
    parser.add_argument("--synthetic", action="store_true", help="a random dataset of the config's shape")
    parser.add_argument("--pack", default="", help="a packed dataset folder to stream instead")
    parser.add_argument("--workers", default="0", help="comma-separated dataset.workers values")
    parser.add_argument("--step_steps", type=int, default=3, help="train steps per timed run")
    parser.add_argument("--step_runs", type=int, default=5, help="timed runs of the step (median)")
    parser.add_argument(
        "--step_overrides", default="", help="comma-separated config overrides for the step (a=b,c=d)"
    )
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    config = common.load_config(args.config)
    config.batch_size = args.batch_size
    if args.pack:
        _on_pack(config, args.pack)
    elif args.synthetic:
        _synthetic(config)
    info = common.machine()
    rows = []
    for workers in [int(w) for w in args.workers.split(",")]:
        config.dataset.workers = workers
        rows.append(
            {
                "data": args.pack or config.dataset.source,
                "resolution": config.dataset.resolution,
                "batch": args.batch_size,
                "workers": workers,
                "pipeline_img_s": pipeline_images_per_s(config, args.steps),
            }
        )
    overrides = [o for o in args.step_overrides.split(",") if o]
    step = jax_bench.bench_one(
        args.config,
        args.batch_size,
        config.model.dtype,
        args.step_steps,
        args.step_runs,
        common.measured_peak_flops(),
        overrides,
    )
    consumed = step["images_per_s"] * config.n_critic
    for row in rows:
        row.update(
            step=args.config + "".join(f" {o}" for o in overrides),
            step_consumes_img_s=consumed,
            ratio=row["pipeline_img_s"] / consumed,
        )
    common.print_table(rows, list(rows[0]))
    out = args.out or os.path.join(
        common.REPO, "benchmarks", "results", f"input_pipeline_{info['backend']}.json"
    )
    common.write_json(out, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
