"""Input pipeline throughput against the train step's consumption rate, in one run.

    python benchmarks/input_pipeline.py --config dcgan_fashion_mnist --batch_size 128

The pipeline (`gan_jax.data.batches`: index arithmetic, gathering the batch from the
in-memory uint8 array, host-to-device transfer, prefetch thread) is drained on its own
and timed; then the config's compiled train step is timed on device-resident batches
(`train_step.bench_one`). The ratio pipeline / step says how much headroom the input
has (the goal on accelerators is ≥ 5×). Without the config's dataset on disk, a
synthetic in-memory dataset of the same shape is used (``--synthetic``).
"""

import argparse
import os
import tempfile
import time

import jax
import numpy as np

import common
import train_step as jax_bench
from gan_jax import data, datasets, parallel


def pipeline_images_per_s(config, steps: int) -> float:
    dataset = datasets.load_dataset(config.dataset)
    mesh = parallel.create_mesh()
    it = data.batches(dataset, config, mesh, 0, steps + 5)
    for _ in range(5):  # warm-up: thread start, first transfers
        jax.block_until_ready(next(it))
    start = time.perf_counter()
    for batch in it:
        jax.block_until_ready(batch)
    seconds = time.perf_counter() - start
    return steps * config.batch_size * config.n_critic / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dcgan_fashion_mnist")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200, help="batches drawn from the pipeline")
    parser.add_argument("--synthetic", action="store_true", help="a random dataset of the config's shape")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    config = common.load_config(args.config)
    config.batch_size = args.batch_size
    if args.synthetic:
        res, ch = config.dataset.resolution, config.dataset.channels
        rng = np.random.default_rng(0)
        path = os.path.join(tempfile.mkdtemp(), "synthetic.npz")
        np.savez(
            path,
            images=rng.integers(0, 256, (50_000, res, res, ch), dtype=np.uint8),
            labels=rng.integers(0, 10, 50_000).astype(np.int32),
        )
        config.dataset.update(source="npz", path=path)
    info = common.machine()
    pipeline = pipeline_images_per_s(config, args.steps)
    step = jax_bench.bench_one(
        args.config, args.batch_size, config.model.dtype, 3, 10, common.measured_peak_flops()
    )
    consumed = step["images_per_s"] * config.n_critic
    row = {
        "config": args.config,
        "batch": args.batch_size,
        "pipeline_img_s": pipeline,
        "step_consumes_img_s": consumed,
        "ratio": pipeline / consumed,
    }
    common.print_table([row], list(row))
    out = args.out or os.path.join(
        common.REPO, "benchmarks", "results", f"input_pipeline_{info['backend']}.json"
    )
    common.write_json(out, {"machine": info, "results": [row]})


if __name__ == "__main__":
    main()
