"""Training curves beside the references: gan_jax and NVlabs' (or brownvc's) own training
code train the same small GAN on the same Fashion-MNIST images from the same initial
weights; the EMA generator of each is scored by one function at equal kimg.

    python benchmarks/training_curves.py --model stylegan2            # every job, then the report
    python benchmarks/training_curves.py --model r3gan --jobs gan_jax:1,peer:1
    python benchmarks/training_curves.py --model stylegan2 --report_only

Needs GAN_JAX_TORCH_PYTHON (a Python with torch) and the checkout (STYLEGAN2_ADA_PYTORCH
or R3GAN_CHECKOUT) for the peer's jobs, and Debian's Fashion-MNIST files (or tfds's).

What is trained (``--model``):

* stylegan2: `configs/stylegan2_fashion_mnist.py` (NVlabs' loop by its preset), against
  NVlabs' stylegan2-ada-pytorch through `peers/train_peer.py` (NVlabs' networks, loss,
  phases, EMA: `peers/stylegan2_steps.Loop`) with the same hyperparameters
  (`peer_loops.nvlabs_meta`); 28 px images padded to 32, one channel.
* r3gan: `configs/r3gan_fashion_mnist.py` with its schedules stretched over the whole
  curve, against brownvc/R3GAN (`peers/r3gan_steps.Loop`, `peer_loops.r3gan_meta`); the
  images in RGB (grey in all three channels): R3GAN's networks have three.

For each seed s: the peer builds its networks from torch seed s (``init.npz``), which
gan_jax converts into step 0 of its run; both read the batches gan_jax's pipeline reads
for seed s (`gan_jax.data.order`: epochs of permutations; the peer gets the indices);
everything else each draws from its own generator. gan_jax trains with `train.py`'s
trainer (`trainer.train_and_evaluate`), checkpointing at every curve point; the peer
keeps its EMA generator there. Both resume: kill a job and start it again.

Scoring (after training; the same for both): the EMA generator (a gan_jax checkpoint, or
the peer's G_ema converted with `convert_stylegan2` / `convert_r3gan`) through the same
gan_jax sampler on the same ``--num_samples`` z, quantised to uint8, fd_fmnist against
Fashion-MNIST's test split read from the Debian files (`time_to_quality.make_scorer`).

Results: ``benchmarks/results/curves_<model>.json`` (every point: framework, seed, step,
kimg, fd_fmnist, training seconds; a point already there is kept and not scored again
unless ``--rescore``, so the results accumulate over sessions while the runs go on),
``docs/images/curves_<model>.png`` (fd_fmnist against kimg), and the table printed. Runs
live in ``--dir`` (default runs/curves).
"""

import argparse
import itertools
import json
import os
import sys

import jax
import numpy as np

import common
import peer_loops
from time_to_quality import make_scorer
from gan_jax.training import build
from gan_jax.run import checkpoint
from gan_jax.convert import r3gan as convert_r3gan
from gan_jax.convert import stylegan2 as convert_stylegan2
from gan_jax.data import order as data_order
from gan_jax.data import sources as datasets
from gan_jax.run import loading as runs
from gan_jax.run import trainer
from gan_jax import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "stylegan2": dict(
        config="stylegan2_fashion_mnist", channels=1, kimg=(40, 80, 120, 160, 200), peer="nvlabs"
    ),
    "r3gan": dict(config="r3gan_fashion_mnist", channels=3, kimg=(20, 40, 60, 80, 100), peer="r3gan"),
}
CHECKOUT_VARS = {"nvlabs": "STYLEGAN2_ADA_PYTORCH", "r3gan": "R3GAN_CHECKOUT"}
CONVERT = {"stylegan2": convert_stylegan2.convert, "r3gan": convert_r3gan.convert}
NAMES = {"gan_jax": "gan_jax", "nvlabs": "NVlabs", "r3gan": "brownvc"}  # the results' frameworks, by owner
SAVES_PER_POINT = 5  # gan_jax checkpoints between two curve points
PEER_CHECKPOINT_EVERY = 50  # steps between the peer's state.npz saves
RESULTS = os.path.join(REPO, "benchmarks", "results", "curves_{model}.json")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=tuple(MODELS), required=True)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--jobs", default="", help="framework:seed,... to train (default: all)")
    p.add_argument("--kimg", default="", help="curve points (default: the model's)")
    p.add_argument("--dir", default=os.path.join(REPO, "runs", "curves"))
    p.add_argument("--num_samples", type=int, default=10_000)
    p.add_argument("--report_only", action="store_true", help="score what is there and report")
    p.add_argument("--rescore", action="store_true", help="score again the points already in --results")
    p.add_argument(
        "--results", default="", help="the results file (default: benchmarks/results/curves_<model>.json)"
    )
    p.add_argument("--no_score", action="store_true", help="train only")
    return p.parse_args(argv)


def images_npz(root: str, channels: int) -> str:
    """Fashion-MNIST's train split padded to 32 px as gan_jax's pipeline pads it, uint8
    (N, 32, 32, C) in one .npz (written once)."""
    path = os.path.join(root, "data", f"fashion_mnist_32_{channels}ch.npz")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        config = config_lib.base_config()
        config.dataset.update(name="fashion_mnist", resolution=32, channels=1, resize="pad")
        dataset = datasets.load_dataset(config.dataset)
        images = dataset.read(np.arange(len(dataset)))
        np.savez(path, images=np.repeat(images, channels, axis=-1), labels=dataset.labels)
    return path


def curve_config(model: str, seed: int, kimg: tuple[int, ...], images: str):
    """The model's config on ``images``, run for max(kimg), every checkpoint kept: one at
    every point and `SAVES_PER_POINT` between, so a killed job loses minutes, not a point."""
    spec = MODELS[model]
    config = common.load_config(spec["config"])
    config.dataset.update(source="npz", path=images, name="fashion_mnist_32", channels=spec["channels"])
    batch = config.batch_size
    every = int(kimg[0] * 1000) // batch
    if any(int(k * 1000) % (every * batch) for k in kimg):
        raise SystemExit(f"--kimg {kimg} must be multiples of the first point at batch {batch}")
    if model == "r3gan":
        config.schedule.kimg = float(max(kimg))
    num_steps = int(max(kimg) * 1000) // batch
    every = every // SAVES_PER_POINT if every % SAVES_PER_POINT == 0 else every
    config.update(seed=seed, num_steps=num_steps, checkpoint_every=every)
    config.update(keep_checkpoints=num_steps // every + 1, sample_every=0, eval_every=0, log_every=200)
    return config


def job_dir(root: str, model: str, seed: int, framework: str) -> str:
    return os.path.join(root, model, f"seed{seed}", framework)


def peer_job(args, config, model: str, seed: int, kimg) -> tuple[str, str]:
    """(job file, output folder) of the peer's run: its meta, images and batch order."""
    out = job_dir(args.dir, model, seed, "peer")
    os.makedirs(out, exist_ok=True)
    batches = 2 if config.loss.g_real_batch == "own" else 1
    order_path = os.path.join(out, "order.npy")
    if not os.path.exists(order_path):
        n = len(np.load(config.dataset.path, mmap_mode="r")["labels"])
        order = [
            data_order.step_indices(seed, t, batches, config.batch_size, n) for t in range(config.num_steps)
        ]
        np.save(order_path, np.stack(order))
    meta_fn = peer_loops.nvlabs_meta if model == "stylegan2" else peer_loops.r3gan_meta
    meta = meta_fn(config, config.num_steps, seed)
    job = dict(
        meta=meta,
        images=config.dataset.path,
        order=order_path,
        snapshots=[int(k * 1000) // config.batch_size for k in kimg],
        checkpoint_every=PEER_CHECKPOINT_EVERY,
    )
    path = os.path.join(out, "job.json")
    with open(path, "w") as f:
        json.dump(job, f, indent=1)
    return path, out


def run_peer_job(args, config, model: str, seed: int, kimg, init_only: bool = False) -> str:
    spec = MODELS[model]
    python = os.environ.get("GAN_JAX_TORCH_PYTHON", "")
    checkout = os.environ.get(CHECKOUT_VARS[spec["peer"]], "")
    if not python or not checkout:
        raise SystemExit(f"set GAN_JAX_TORCH_PYTHON and {CHECKOUT_VARS[spec['peer']]} for the peer's jobs")
    path, out = peer_job(args, config, model, seed, kimg)
    flags = ["--peer", spec["peer"], "--checkout", checkout, "--job", path, "--dir", out]
    if init_only:
        if not os.path.exists(os.path.join(out, "init.npz")):
            peer_loops.run_peer(python, "train_peer.py", flags + ["--init-only"])
    else:
        print(peer_loops.run_peer(python, "train_peer.py", flags)[-2000:], flush=True)
    return out


def run_gan_jax_job(args, config, model: str, seed: int, kimg) -> None:
    """Step 0 from the peer's initial networks, then `train.py`'s trainer (which resumes)."""
    workdir = job_dir(args.dir, model, seed, "gan_jax")
    init = os.path.join(run_peer_job(args, config, model, seed, kimg, init_only=True), "init.npz")
    if not os.path.isdir(checkpoint.checkpoint_dir(workdir)):
        trainer.prepare_workdir(workdir)
        manager = checkpoint.make_manager(workdir, config)
        run = build.build(config)
        with np.load(init, allow_pickle=False) as f:
            state, _ = convert_stylegan2.state_from_state_dict(run, dict(f), CONVERT[model])
        trainer.write_config(workdir, config)
        checkpoint.save(manager, state, config)
        checkpoint.wait(manager)
        manager.close()
    trainer.train_and_evaluate(config, workdir)


def gan_jax_snapshots(workdir: str, steps: list[int]):
    """{step: (ema_params, g_vars)} of the checkpoints at ``steps``."""
    out = {}
    for step in steps:
        _, state, _ = runs.load_checkpoint(workdir, str(step))
        out[step] = (state.ema_params, state.g_vars)
    return out


def peer_snapshots(out: str, run, model: str, steps: list[int]):
    snaps = {}
    for step in steps:
        path = os.path.join(out, f"snap_{step}.npz")
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as f:
                params, collections = CONVERT[model](dict(f), "G_ema.", run.g_model)
            snaps[step] = (params, {**run.init_state().g_vars, **collections})
    return snaps


def training_seconds(workdir: str, framework: str, steps: list[int]) -> dict[int, float]:
    """Seconds of training up to each of ``steps``, summed over the job's starts, read
    from its log and interpolated between logged steps (a step past the log has none).
    They are wall seconds on a shared machine: a record, not a speed comparison."""
    logged = [(0, 0.0)]
    if framework == "peer":
        path = os.path.join(workdir, "log.jsonl")
        lines = [json.loads(x) for x in open(path)] if os.path.exists(path) else []
        total, last_start = 0.0, 0.0
        for line in lines:
            if line["seconds_this_start"] < last_start:  # a new start: its clock began at 0
                total += last_start
            last_start = line["seconds_this_start"]
            logged.append((line["step"], total + last_start))
    else:
        path = os.path.join(workdir, "metrics.jsonl")
        lines = [json.loads(x) for x in open(path)] if os.path.exists(path) else []
        for line in lines:
            rate = line.get("steps_per_sec")
            if rate and line["step"] > logged[-1][0]:
                logged.append((line["step"], logged[-1][1] + (line["step"] - logged[-1][0]) / rate))
    known, seconds = np.array([s for s, _ in logged]), np.array([t for _, t in logged])
    return {s: float(np.interp(s, known, seconds)) for s in steps if s <= known[-1]}


def point(row: dict) -> tuple[str, int, int]:
    """A result's key: (framework, seed, step)."""
    return row["framework"], row["seed"], row["step"]


def saved_rows(path: str) -> list[dict]:
    """The rows of the results file at ``path`` (none when there is no file)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["rows"]


def scored(path: str) -> set[tuple[str, int, int]]:
    """The points already in the results file at ``path``."""
    return {point(r) for r in saved_rows(path)}


def score_all(args, model: str, seeds: list[int], kimg, skip=frozenset()) -> list[dict]:
    """Every existing snapshot of every seed and framework but those in ``skip``
    ((framework, seed, step)), scored by one function."""
    spec = MODELS[model]
    config = curve_config(model, seeds[0], kimg, images_npz(args.dir, spec["channels"]))
    run = build.build(config, jax.sharding.Mesh(jax.devices()[:1], ("data",)))
    # The reference: Fashion-MNIST's test split as gan_jax reads it (grey; fd_fmnist takes
    # the luma of RGB samples), not the training images the runs read from their .npz.
    reference = config.copy_and_resolve_references()
    reference.dataset.update(name="fashion_mnist", source="auto", path="", channels=1, resize="pad")
    score = make_scorer(reference, run, args.num_samples)
    sampler = run.sampler()
    jitted = jax.jit(sampler.apply)
    steps = [int(k * 1000) // config.batch_size for k in kimg]
    rows = []
    for seed in seeds:
        for framework in ("gan_jax", "peer"):
            where = job_dir(args.dir, model, seed, framework)
            if not os.path.isdir(where):
                continue
            name = framework if framework == "gan_jax" else spec["peer"]
            todo = [s for s in steps if (name, seed, s) not in skip]
            if framework == "gan_jax":
                have = (
                    checkpoint.make_manager(where, config).all_steps()
                    if os.path.isdir(checkpoint.checkpoint_dir(where))
                    else []
                )
                snaps = gan_jax_snapshots(where, [s for s in todo if s in have])
            else:
                snaps = peer_snapshots(where, run, model, todo)
            for step, (params, g_vars) in sorted(snaps.items()):
                stats = sampler.stats(params, g_vars)
                generate = lambda z: np.asarray(jitted(params, stats, z, np.zeros(len(z), np.int32)))  # noqa: E731,B023
                value = score(generate)["value"]
                rows.append(
                    dict(
                        framework=name,
                        seed=seed,
                        step=step,
                        kimg=step * config.batch_size / 1000,
                        fd_fmnist=value,
                        train_seconds=None,  # filled from the run's log by `with_seconds`
                    )
                )
                print(
                    f"{model} {NAMES[rows[-1]['framework']]} seed {seed} {rows[-1]['kimg']:g} kimg: fd_fmnist {value:.2f}",
                    flush=True,
                )
    return rows


def merged(rows: list[dict], path: str) -> list[dict]:
    """``rows`` with the earlier results' rows of points not scored now (runs whose files
    are gone, e.g. trained in an earlier session), so the results accumulate."""
    have = {point(r) for r in rows}
    kept = [r for r in saved_rows(path) if point(r) not in have]
    return sorted(kept + rows, key=point)


def with_seconds(rows: list[dict], root: str, model: str) -> list[dict]:
    """``rows`` with their training seconds read again from the runs' logs (each log once),
    where the runs are still in ``root`` (a point scored before its log reached it has none)."""
    out = []
    for (name, seed), group in itertools.groupby(rows, key=lambda r: (r["framework"], r["seed"])):
        group = list(group)
        framework = "gan_jax" if name == "gan_jax" else "peer"
        where = job_dir(root, model, seed, framework)
        if os.path.isdir(where):
            seconds = training_seconds(where, framework, [r["step"] for r in group])
            group = [{**r, "train_seconds": seconds.get(r["step"])} for r in group]
        out += group
    return out


def plot(rows: list[dict], model: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7.5, 4), dpi=120)
    styles = {"gan_jax": ("tab:blue", "o"), "nvlabs": ("tab:orange", "s"), "r3gan": ("tab:orange", "s")}
    seeds = sorted({r["seed"] for r in rows})
    for framework, seed in sorted({(r["framework"], r["seed"]) for r in rows}):
        pts = sorted(
            (r["kimg"], r["fd_fmnist"]) for r in rows if (r["framework"], r["seed"]) == (framework, seed)
        )
        color, marker = styles[framework]
        line = ("-", "--", ":", "-.")[seeds.index(seed) % 4]
        ax.plot(*zip(*pts), line, color=color, marker=marker, label=f"{NAMES[framework]}, seed {seed}")
    ax.set_xlabel("kimg (thousands of real images shown)")
    ax.set_ylabel("fd_fmnist (10k EMA samples vs test split)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(1.5, 2, 3, 4, 5, 6, 7, 8, 9)))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    owner = {"nvlabs": "NVlabs'", "r3gan": "brownvc's"}[MODELS[model]["peer"]]
    ax.set_title(f"{MODELS[model]['config']}:\ngan_jax beside {owner} own training code", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def table(rows: list[dict]) -> str:
    keys = sorted({(r["framework"], r["seed"]) for r in rows})
    head = "| kimg | " + " | ".join(f"{NAMES[f]}, seed {s}" for f, s in keys) + " |"
    lines = [head, "|" + "---:|" * (len(keys) + 1)]
    for kimg in sorted({r["kimg"] for r in rows}):
        cells = []
        for key in keys:
            hit = [r for r in rows if (r["framework"], r["seed"]) == key and r["kimg"] == kimg]
            cells.append(f"{hit[0]['fd_fmnist']:.2f}" if hit else "—")
        lines.append(f"| {kimg:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    spec = MODELS[args.model]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    kimg = tuple(float(k) for k in args.kimg.split(",")) if args.kimg else spec["kimg"]
    images = images_npz(args.dir, spec["channels"])
    jobs = [j.split(":") for j in args.jobs.split(",") if j] or [
        (f, str(s)) for s in seeds for f in ("gan_jax", "peer")
    ]
    if not args.report_only:
        for framework, seed in jobs:
            config = curve_config(args.model, int(seed), kimg, images)
            if framework == "gan_jax":
                run_gan_jax_job(args, config, args.model, int(seed), kimg)
            else:
                run_peer_job(args, config, args.model, int(seed), kimg)
    if args.no_score:
        return
    results = args.results or RESULTS.format(model=args.model)
    skip = frozenset() if args.rescore else scored(results)
    rows = with_seconds(merged(score_all(args, args.model, seeds, kimg, skip), results), args.dir, args.model)
    result = dict(
        model=args.model,
        config=spec["config"],
        peer=spec["peer"],
        kimg=list(kimg),
        num_samples=args.num_samples,
        machine=common.machine(),
        rows=rows,
        command=" ".join(sys.argv),
    )
    common.write_json(results, result)
    plot(rows, args.model, os.path.join(REPO, "docs", "images", f"curves_{args.model}.png"))
    print(table(rows))


if __name__ == "__main__":
    main()
