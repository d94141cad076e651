"""What the GPU suite (`benchmarks/gpu_suite.sh`) runs, at full size or tiny for its dry run.

    python benchmarks/suite_plan.py [--dry-run] --out OUT/plan.json

Writes the plan every check of the suite reads: the three models as gan_jax configs (with
their G and D parameter counts, which the PyTorch peers must match), batch sizes, dtypes,
how many steps each timing takes, the matmul size of the peak measurement, and the sizes of
the input-pipeline and Inception checks.

The models, as the issue names them:

* DCGAN-64: ``configs/dcgan_celeba64.py``'s network and step, batch 128;
* SNGAN-32: ``configs/sngan_cifar10.py``'s, batch 256 (5 D updates per step);
* BigGAN-128: ``configs/biggan_cifar10.py`` at ``dataset.resolution=128`` with BigGAN's
  128-px width (``ch=96``: G 1536-768-384-192-96) and its self-attention at 64×64, batch
  256 (4 D updates per step, DiffAugment, 10 classes as the config).

The dry run keeps every model's layout, step and dtypes but makes them narrow, with batch 4
and one-step timings, so that the whole suite runs on a CPU in well under an hour. Its
warm-up is longer (PyTorch on a CPU runs its first few steps slowly) but its timings remain
those of tiny networks on whatever CPU it runs on.
"""

import argparse
import json
import os

import common
from gan_jax import build, config as config_lib
from gan_jax.state import count_params

MODELS = {
    "DCGAN-64": ("dcgan_celeba64", 128, {}),
    "SNGAN-32": ("sngan_cifar10", 256, {}),
    "BigGAN-128": (
        "biggan_cifar10",
        256,
        {"dataset.resolution": 128, "model.g_width": 96, "model.d_width": 96, "model.attention_res": 64},
    ),
}
DRY_RUN = {
    "batch": 4,
    "overrides": {
        "DCGAN-64": {"model.g_width": 8, "model.d_width": 8},
        "SNGAN-32": {"model.g_width": 16, "model.d_width": 16},
        "BigGAN-128": {"model.g_width": 8, "model.d_width": 8, "model.shared_dim": 16},
    },
}
DTYPES = ("bfloat16", "float32")  # bfloat16 first: the goals are about it
SIZES = {
    False: {
        "timing": {"warmup": 2, "runs": 5, "steps": 2},
        "matmul_n": 8192,
        "pipeline": {"batches": 100, "examples": 4096},
        "fid": {"images": 64, "size": 32},
    },
    True: {
        "timing": {"warmup": 3, "runs": 2, "steps": 1},
        "matmul_n": 256,
        "pipeline": {"batches": 10, "examples": 64},
        "fid": {"images": 2, "size": 32},
    },
}


def model_config(name: str, dry_run: bool):
    """The gan_jax config of one suite model (``model.dtype`` float32; the checks set it)."""
    config_name, batch, overrides = MODELS[name]
    config = common.load_config(config_name)
    overrides = {**overrides, **(DRY_RUN["overrides"][name] if dry_run else {})}
    for key, value in overrides.items():
        section, field = key.split(".")
        config[section][field] = value
    config.batch_size = DRY_RUN["batch"] if dry_run else batch
    config.dataset.source = "synthetic"  # nothing on disk; the step benchmarks make their own batches
    return config, overrides


def param_counts(config) -> tuple[int, int]:
    """(G, D) parameter counts from the state's shapes, nothing computed."""
    state = build.build(config).abstract_state()
    return count_params(state.g_params), count_params(state.d_params)


def make_plan(dry_run: bool) -> dict:
    models = []
    for name in MODELS:
        config, overrides = model_config(name, dry_run)
        g_params, d_params = param_counts(config)
        models.append(
            {
                "name": name,
                "config_file": f"configs/{MODELS[name][0]}.py",
                "overrides": overrides,
                "architecture": config.model.architecture,
                "batch": config.batch_size,
                "n_critic": config.n_critic,
                "g_params": g_params,
                "d_params": d_params,
                "config": json.loads(config_lib.to_json(config)),
            }
        )
    return {"dry_run": dry_run, "models": models, "dtypes": list(DTYPES), **SIZES[dry_run]}


def load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def config_of(model: dict, dtype: str = "float32"):
    """A plan entry's gan_jax config, with ``model.dtype`` set."""
    config = config_lib.from_dict(model["config"])
    config.model.dtype = dtype
    return config


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, for a CPU")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    plan = make_plan(args.dry_run)
    for m in plan["models"]:
        print(f"{m['name']}: {m['config_file']} {m['overrides']}, batch {m['batch']}, ", end="")
        print(f"n_critic {m['n_critic']}, params G {m['g_params']:,} + D {m['d_params']:,}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    common.write_json(args.out, plan)


if __name__ == "__main__":
    main()
