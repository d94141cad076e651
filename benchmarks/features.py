"""Feature-extraction throughput of the evaluation networks (images/s).

    python benchmarks/features.py --nets fmnist,inception --batch_size 250

``fmnist``: the shipped Fashion-MNIST classifier (28x28 grey); ``inception``: FID's
Inception-v3 (inputs resized to 299) with weights from ``--inception_weights`` /
``$GAN_JAX_INCEPTION``, or random weights in the published layout when neither is set
(throughput does not depend on the values). Median over runs of one batch each,
compilation excluded, through the same sharded extractor the evaluator uses.
"""

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

import common
from gan_jax import parallel
from gan_jax.metrics import features, inception


def inception_net(weights: str) -> features.FeatureNet:
    if weights or os.environ.get("GAN_JAX_INCEPTION"):
        return features.get_feature_net("inception", weights)
    shape = (1, inception.RESOLUTION, inception.RESOLUTION, 3)
    params = inception.InceptionV3().init(jax.random.key(0), jnp.zeros(shape))["params"]
    return features.FeatureNet("inception", 2048, "random", inception.features_fn(params))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="fmnist,inception")
    parser.add_argument("--batch_size", type=int, default=250)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--inception_weights", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    info = common.machine()
    mesh = parallel.create_mesh()
    rows = []
    for name in args.nets.split(","):
        net = (
            features.get_feature_net("fmnist") if name == "fmnist" else inception_net(args.inception_weights)
        )
        shape = (28, 28, 1) if name == "fmnist" else (32, 32, 3)
        images = np.random.default_rng(0).integers(0, 256, (args.batch_size, *shape), dtype=np.uint8)
        extract = features.make_extractor(net, mesh, args.batch_size)
        seconds = common.median_time(lambda: extract(images), jax.block_until_ready, warmup=1, runs=args.runs)
        rows.append(
            {
                "net": name,
                "input": "x".join(map(str, shape)),
                "batch": args.batch_size,
                "images_per_s": args.batch_size / seconds,
            }
        )
        common.print_table(rows[-1:], list(rows[-1]))
    out = args.out or os.path.join(common.REPO, "benchmarks", "results", f"features_{info['backend']}.json")
    common.write_json(out, {"machine": info, "results": rows})


if __name__ == "__main__":
    main()
