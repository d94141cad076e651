"""What the GPU suite (`benchmarks/gpu_suite.sh`) runs, at full size or tiny for its dry run.

    python benchmarks/suite_plan.py [--dry-run] --out OUT/plan.json

Writes the plan every check of the suite reads: the three models as gan_jax configs (with
their G and D parameter counts, which the PyTorch peers must match), batch sizes, dtypes,
how many steps each timing takes, the matmul size of the peak measurement, the sizes of
the input-pipeline and Inception checks, and the reference models (`REFERENCE`: StyleGAN2
at 256 and 1024 px against NVlabs, R3GAN at 256 px against brownvc) with the arguments of
their peers' loops (`peer_loops`).

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
from gan_jax import config as config_lib
from gan_jax.training import build
from gan_jax.training.state import count_params

MODELS = {
    "DCGAN-64": ("dcgan_celeba64", 128, {}),
    "SNGAN-32": ("sngan_cifar10", 256, {}),
    "BigGAN-128": (
        "biggan_cifar10",
        256,
        {
            "dataset.resolution": 128,
            "model.biggan.g_width": 96,
            "model.biggan.d_width": 96,
            "model.biggan.attention_res": 64,
        },
    ),
}
DRY_RUN = {
    "batch": 4,
    "overrides": {
        "DCGAN-64": {"model.dcgan.g_width": 8, "model.dcgan.d_width": 8},
        "SNGAN-32": {"model.sngan.g_width": 16, "model.sngan.d_width": 16},
        "BigGAN-128": {"model.biggan.g_width": 8, "model.biggan.d_width": 8, "model.biggan.shared_dim": 16},
    },
}
DTYPES = ("bfloat16", "float32")  # bfloat16 first: the goals are about it
# The models people train today, each against the code it reproduces, timed over whole
# lazy cycles as s/kimg (NVlabs' tables): (config, peer, batch, reduced-precision
# resolutions). Batches are one GPU's: NVlabs' paper256 (64) and config F (32) on one GPU;
# R3GAN's FFHQ-256 preset trains batch 256 on 8 GPUs, 32 on each.
REFERENCE = {
    "StyleGAN2-256": ("stylegan2_ffhq256", "nvlabs", 64, 4),
    "StyleGAN2-1024": ("stylegan2_ffhq1024", "nvlabs", 32, 4),
    "R3GAN-256": ("r3gan_ffhq256", "r3gan", 32, 4),
}
_DRY_MAPPING = {"model.z_dim": 32, "model.stylegan2.w_dim": 32, "model.stylegan2.mapping_layers": 2}
REFERENCE_DRY = {
    "StyleGAN2-256": {
        "dataset.resolution": 32,
        "model.stylegan2.channel_base": 256,
        "model.stylegan2.channel_max": 16,
        **_DRY_MAPPING,
    },
    "StyleGAN2-1024": {
        "dataset.resolution": 32,
        "model.stylegan2.channel_base": 128,
        "model.stylegan2.channel_max": 8,
        **_DRY_MAPPING,
    },
    "R3GAN-256": {
        "dataset.resolution": 32,
        "model.r3gan.stage_widths": (16, 16, 16, 16),
        "model.r3gan.stage_groups": (2, 2, 2, 2),
        "model.r3gan.stage_blocks": (1, 1, 1, 1),
    },
}
# float32, or the N highest resolutions in reduced precision: gan_jax bfloat16
# (model.<architecture>.num_bf16_res), NVlabs float16 (num_fp16_res, its conv_clamp), R3GAN bfloat16.
PRECISIONS = ("mixed", "float32")
SIZES = {
    False: {
        "timing": {"warmup": 2, "runs": 5, "steps": 2},
        "cycles": {"warmup": 1, "runs": 2},
        "matmul_n": 8192,
        "pipeline": {"batches": 100, "examples": 4096},
        "fid": {"images": 64, "size": 32},
    },
    True: {
        "timing": {"warmup": 3, "runs": 2, "steps": 1},
        "cycles": {"warmup": 1, "runs": 1},
        "matmul_n": 256,
        "pipeline": {"batches": 10, "examples": 64},
        "fid": {"images": 2, "size": 32},
    },
}


def set_field(config, dotted: str, value) -> None:
    """``config.<dotted> = value`` for a dotted field name."""
    *path, field = dotted.split(".")
    node = config
    for part in path:
        node = node[part]
    node[field] = value


def model_config(name: str, dry_run: bool):
    """The gan_jax config of one suite model (``model.dtype`` float32; the checks set it)."""
    config_name, batch, overrides = MODELS[name]
    config = common.load_config(config_name)
    overrides = {**overrides, **(DRY_RUN["overrides"][name] if dry_run else {})}
    for key, value in overrides.items():
        set_field(config, key, value)
    config.batch_size = DRY_RUN["batch"] if dry_run else batch
    config.dataset.source = "synthetic"  # nothing on disk; the step benchmarks make their own batches
    return config, overrides


def reference_config(name: str, dry_run: bool):
    """The gan_jax config of one reference model, float32 (``num_bf16_res`` 0), on
    synthetic data; the dry run narrow and at 32 px, batch 4, two reduced resolutions."""
    config_name, _, batch, _ = REFERENCE[name]
    config = common.load_config(config_name)
    for key, value in (REFERENCE_DRY[name] if dry_run else {}).items():
        set_field(config, key, value)
    config.model[config.model.architecture].num_bf16_res = 0
    config.batch_size = DRY_RUN["batch"] if dry_run else batch
    config.dataset.source = "synthetic"
    return config


def reference_entry(name: str, dry_run: bool) -> dict:
    """A reference model's plan entry: its config, the peer's arguments, the lazy cycle."""
    import math

    import peer_loops

    config = reference_config(name, dry_run)
    _, peer, _, reduced = REFERENCE[name]
    run = build.build(config)
    cycle = math.lcm(*(p.every for p in run.phases))
    meta_fn = peer_loops.nvlabs_meta if peer == "nvlabs" else peer_loops.r3gan_meta
    g_params, d_params = param_counts(config)
    return {
        "name": name,
        "config_file": f"configs/{REFERENCE[name][0]}.py",
        "peer": peer,
        "batch": config.batch_size,
        "reduced_res": 2 if dry_run else reduced,
        "cycle_steps": cycle,
        "g_params": g_params,
        "d_params": d_params,
        "config": json.loads(config_lib.to_json(config)),
        "peer_meta": meta_fn(config, 0),
    }


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
    reference = [reference_entry(name, dry_run) for name in REFERENCE]
    return {
        "dry_run": dry_run,
        "models": models,
        "dtypes": list(DTYPES),
        "reference": reference,
        "precisions": list(PRECISIONS),
        **SIZES[dry_run],
    }


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
    for m in plan["reference"]:
        print(f"{m['name']}: {m['config_file']} against {m['peer']}, batch {m['batch']}, ", end="")
        print(f"cycle {m['cycle_steps']} steps, params G {m['g_params']:,} + D {m['d_params']:,}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    common.write_json(args.out, plan)


if __name__ == "__main__":
    main()
