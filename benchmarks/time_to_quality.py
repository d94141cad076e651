"""Time to quality: gan_jax and the same GAN in PyTorch, trained for the same wall-clock
budgets, each EMA generator then scored by one function (fd_fmnist).

    python benchmarks/time_to_quality.py                  # a Python with torch for both sides
    python benchmarks/time_to_quality.py --budgets_min 5,10,20 --frameworks gan_jax,torch \\
        --config dcgan_fashion_mnist --num_samples 10000
    python benchmarks/time_to_quality.py --budgets_min 0.1,0.2 --num_samples 1000   # smoke run

What is trained: the config (default configs/dcgan_fashion_mnist.py: DCGAN-28, batch 64,
non-saturating loss, Adam(2e-4, b1 0.5) at a constant learning rate, EMA of G) on the
Fashion-MNIST train split, by each framework in turn (gan_jax first), never at once.

* gan_jax: what `train.py` runs: `build.build(config)`, ``run.stepper()`` (the compiled
  step: D update, G update, EMA) fed by `gan_jax.data.pipeline.batches` (the prefetch thread), at
  most `trainer.MAX_IN_FLIGHT` steps ahead of the device.
* PyTorch: `torch_peer.make_dcgan` (parameter counts checked equal to gan_jax's; weights
  N(0, 0.02) as there, and here BatchNorm scales N(1, 0.02) and biases 0 as gan_jax
  initialises them) run by `torch_peer_step.GANStep` (the same D update, G update and EMA),
  eager, ``torch.set_num_threads`` = the CPU count. Its EMA decay is set before every step
  to gan_jax's (`ema_decay_at`: the warm-up min(β, (1+t)/(10+t)) included). Its batches are
  `gan_jax.data.order.host_batch`'s, the very images in the very order (epochs of
  permutations seeded by (seed, epoch)) gan_jax's pipeline reads, scaled to [-1, 1] as
  gan_jax's step does (x·2/255 − 1) and laid out channels-last.

The clock: wall-clock seconds from the moment a framework starts (its imports done) to
each snapshot: building the models, loading the dataset (`datasets.load_dataset`, the
same call on both sides), compilation and every step are counted. The clock is paused
while a snapshot copies the EMA generator (and its BatchNorm state) to host memory;
nothing is generated or scored while it runs. A snapshot is taken after the first step
that ends at or past the budget, with the device synchronised, so it is late by at most
one step (the seconds actually reached are reported).

One run, several budgets: the learning rate is constant and nothing in the recipe depends
on the total number of steps (the EMA warm-up and the data order are functions of the
step alone), so the state at the first step past 5 minutes of one 20-minute run is the
state a 5-minute run would have ended with; one run per framework with snapshots at the
shorter budgets equals separate runs. Configs for which this would not hold (a learning
rate, β₂, ... scheduled over ``num_steps``), or that the PyTorch step does not implement
(schedules, regularizers, ADA, ...), are refused (`recipe_problems`).

Scoring, after training, identical for both frameworks (`make_scorer`): the same
``--num_samples`` z ~ N(0, I) (drawn from the run's ``eval`` key), images of the EMA
generator quantised to uint8 as PNGs are (`features.to_uint8`), features of gan_jax's
Fashion-MNIST classifier, Fréchet distance against the cached features of the test split
(`evaluation.reference_sets`, the cache `gan_jax.tools.evaluate` and the trainer use). That is
``config.eval``'s fd_fmnist, as configs/demo_fashion_mnist.py evaluates, over other z.

BatchNorm when sampling: gan_jax samples its EMA generator with standing statistics
(`gan_jax.training.sample`): the BatchNorm statistics are recomputed for the EMA weights as the
batch statistics (biased variance) of one forward pass in training mode over the run's
standing batch (``sample.standing_stats`` z from the ``sample`` key), then every image is
made in inference mode with them. The PyTorch EMA generator is sampled the same way
(`torch_standing_stats`: momentum 1 over the same standing z, PyTorch's unbiased running
variance rescaled to the biased one, then ``eval()``); neither uses the running averages
collected during training.

Prints the table budget | steps and fd_fmnist per framework, and writes JSON (machine,
versions, budgets, steps, images/s, fd_fmnist, the command line). Without torch in the
Python that runs it, the PyTorch side is skipped with one message.
"""

import argparse
import collections
import contextlib
import os
import sys
import time

import jax
import numpy as np

import common
from train_step import apply_overrides
from gan_jax import parallel
from gan_jax.training import build
from gan_jax.data import pipeline as data
from gan_jax.data import order as data_order
from gan_jax.data import sources as datasets
from gan_jax.training import sample
from gan_jax import __version__ as gan_jax_version
from gan_jax.config import real_batches_per_step
from gan_jax.training.keys import sample_noise
from gan_jax.metrics import evaluator
from gan_jax.run import evaluation
from gan_jax.metrics import features as features_lib
from gan_jax.training.state import count_params
from gan_jax.run.trainer import MAX_IN_FLIGHT

FRAMEWORKS = ("gan_jax", "torch")
METRIC = "fd_fmnist"


class Clock:
    """Wall-clock seconds since creation, less the time spent inside `paused` blocks."""

    def __init__(self):
        self._start = time.perf_counter()
        self._paused = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self._start - self._paused

    @contextlib.contextmanager
    def paused(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - start


def parse_budgets(text: str) -> list[float]:
    """'5,10,20' → [5.0, 10.0, 20.0] minutes, sorted; fractions allowed (0.1 = 6 s)."""
    budgets = sorted(float(b) for b in text.split(",") if b.strip())
    if not budgets or budgets[0] <= 0:
        raise SystemExit(f"--budgets_min={text!r}: give positive minutes, e.g. 5,10,20")
    return budgets


SCHEDULED = (
    "optimizer.g.final_learning_rate",
    "optimizer.d.final_learning_rate",
    "optimizer.g.final_b2",
    "optimizer.d.final_b2",
    "regularizer.final_r1_gamma",
    "regularizer.final_r2_gamma",
    "ema.final_half_life_kimg",
    "augment.final_ada_p",
)


def _field(config, dotted: str):
    for part in dotted.split("."):
        config = config[part]
    return config


def recipe_problems(config, with_torch: bool = True) -> list[str]:
    """Why one run with snapshots would not equal separate runs (a schedule over
    ``num_steps``), or, ``with_torch``, why the PyTorch step would not run the same recipe;
    empty when neither."""
    scheduled = [f for f in SCHEDULED if _field(config, f) is not None]
    problems = []
    if scheduled and not config.schedule.kimg:
        problems.append(f"{', '.join(scheduled)} scheduled over num_steps, which a budget does not fix")
    if not with_torch:
        return problems
    if scheduled:
        problems.append("the PyTorch step has constant hyperparameters")
    if config.model.architecture != "dcgan" or config.model.num_classes:
        problems.append("the PyTorch peer here is the unconditional DCGAN")
    for net in ("g", "d"):
        opt = config.optimizer[net]
        if opt.weight_decay or opt.l1 or opt.l2 or opt.grad_clip:
            problems.append(f"optimizer.{net}: the PyTorch step has plain Adam only")
    reg = config.regularizer
    if reg.r1_gamma or reg.r2_gamma or reg.gp_lambda or reg.lecam_lambda or reg.pl_weight:
        problems.append("the PyTorch step has no regularizers")
    if config.ema.half_life_kimg:
        problems.append("the PyTorch step's EMA is ema.decay (with ema.warmup), not a half-life")
    if config.augment.kind not in ("", "diffaugment"):
        problems.append(f"the PyTorch step has no augment.kind={config.augment.kind!r}")
    if config.microbatches != 1:
        problems.append("the PyTorch step has no micro-batches")
    return problems


def ema_decay_at(config, step: int) -> float:
    """gan_jax's EMA decay after ``step`` completed steps (`gan_jax.training.state.ema_decay` for
    ``ema.decay`` with or without ``ema.warmup``), for the PyTorch step."""
    decay = float(config.ema.decay)
    return min(decay, (1.0 + step) / (10.0 + step)) if config.ema.warmup else decay


def snapshot_row(budget_min: float, steps: int, seconds: float, config, losses) -> dict:
    d_loss, g_loss = (float(x) for x in losses)
    return {
        "budget_min": budget_min,
        "steps": steps,
        "seconds": seconds,
        "images_per_s": steps * config.batch_size / seconds,
        "d_loss": d_loss,
        "g_loss": g_loss,
    }


def steady_rate(config, first_step_s: float, snapshots: list[dict]) -> float | None:
    """Images/s after the first step (so without setup and compilation), to the last snapshot."""
    last = snapshots[-1]
    if last["steps"] < 2:
        return None
    return (last["steps"] - 1) * config.batch_size / (last["seconds"] - first_step_s)


# ----------------------------------------------------------------------------
# gan_jax


def train_gan_jax(config, budgets_min: list[float]) -> tuple[dict, list]:
    """(summary with a row per budget, [(ema_params, g_vars) on host] per budget)."""
    clock = Clock()
    mesh = parallel.create_mesh()
    run = build.build(config, mesh)
    dataset = datasets.load_dataset(config.dataset)
    state = run.init_state()
    step_fn = run.stepper()
    key = run.keys["train"]
    stream = data.batches(dataset, config, mesh, 0, sys.maxsize)
    rows, params, in_flight, first_step_s = [], [], collections.deque(), None
    try:
        for step, batch in enumerate(stream):
            state, metrics = step_fn(state, batch, key, step)
            in_flight.append(metrics["g_loss"])
            if len(in_flight) > MAX_IN_FLIGHT:
                in_flight.popleft().block_until_ready()
            if first_step_s is None:  # setup, compilation and the first step
                jax.block_until_ready(metrics)
                first_step_s = clock.elapsed()
            if clock.elapsed() < budgets_min[len(rows)] * 60:
                continue
            jax.block_until_ready((state, metrics))
            seconds = clock.elapsed()
            with clock.paused():
                params.append(jax.device_get((state.ema_params, state.g_vars)))
                losses = jax.device_get((metrics["d_loss"], metrics["g_loss"]))
            rows.append(snapshot_row(budgets_min[len(rows)], step + 1, seconds, config, losses))
            print(f"gan_jax: {rows[-1]['steps']} steps in {seconds:.1f} s", flush=True)
            if len(rows) == len(budgets_min):
                break
    finally:
        stream.close()
    summary = {
        "g_params": count_params(state.g_params),
        "d_params": count_params(state.d_params),
        "first_step_s": first_step_s,
        "steady_images_per_s": steady_rate(config, first_step_s, rows),
        "snapshots": rows,
    }
    return summary, params


def gan_jax_generator(sampler, jitted_apply, ema_params, g_vars):
    """``z (n, z_dim) -> images (n, H, W, C)`` in [-1, 1]: the run's sampler (standing
    statistics of the EMA weights, then inference mode), as the evaluator samples."""
    stats = sampler.stats(ema_params, g_vars)

    def generate(z):
        return np.asarray(jitted_apply(ema_params, stats, z, np.zeros(len(z), np.int32)))

    return generate


# ----------------------------------------------------------------------------
# PyTorch


def import_torch():
    """(torch, torch_peer, torch_peer_step), or None when this Python has no torch."""
    try:
        import torch
        import torch_peer
        import torch_peer_step
    except ImportError as e:
        print(
            f"PyTorch side skipped: {e} in {sys.executable}; "
            f"run this script with a Python that has torch to include it",
            flush=True,
        )
        return None
    return torch, torch_peer, torch_peer_step


def align_init(torch, g, d) -> None:
    """gan_jax's DCGAN initialisation where `torch_peer.make_dcgan` keeps PyTorch's:
    BatchNorm scales N(1, 0.02), every bias 0 (weights are N(0, 0.02) in both)."""
    with torch.no_grad():
        for module in (*g.modules(), *d.modules()):
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.normal_(1.0, 0.02)
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()


def to_torch_batch(torch, batch: dict, device: str) -> tuple[list, list]:
    """A host batch (uint8 (K, B, H, W, C), int32 (K, B)) → K channels-last float batches in
    [-1, 1] (as `gan_jax.training.keys.to_float_images`) and K int64 label vectors."""
    images = torch.from_numpy(batch["image"]).to(device)
    reals = [
        (x.permute(0, 3, 1, 2).float() * (2.0 / 255.0) - 1.0).contiguous(memory_format=torch.channels_last)
        for x in images
    ]
    labels = [y.long() for y in torch.from_numpy(batch["label"]).to(device)]
    return reals, labels


def train_torch(config, budgets_min: list[float], expected_params: tuple[int, int], modules) -> tuple:
    """(summary with a row per budget, [EMA generator state_dict on host] per budget)."""
    torch, torch_peer, torch_peer_step = modules
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[config.model.dtype]
    clock = Clock()
    dataset = datasets.load_dataset(config.dataset)
    torch.manual_seed(config.seed)
    g, d = torch_peer.make_dcgan(config)
    align_init(torch, g, d)
    counts = (torch_peer.count_params(g), torch_peer.count_params(d))
    if counts != expected_params:
        raise SystemExit(
            f"PyTorch peer has {counts} parameters, gan_jax {expected_params}: not the same network"
        )
    step = torch_peer_step.GANStep(g, d, config, device, dtype)
    mirror, k, b = config.dataset.mirror, real_batches_per_step(config), config.batch_size
    rows, states, first_step_s, t = [], [], None, 0
    while len(rows) < len(budgets_min):
        batch = data_order.host_batch(dataset, config.seed, k, b, slice(None), mirror, t)
        step.ema_decay = ema_decay_at(config, t)
        losses = step(*to_torch_batch(torch, batch, device))
        t += 1
        if first_step_s is None:
            sync()
            first_step_s = clock.elapsed()
        if clock.elapsed() < budgets_min[len(rows)] * 60:
            continue
        sync()
        seconds = clock.elapsed()
        with clock.paused():
            states.append({n: v.detach().to("cpu", copy=True) for n, v in step.ema.state_dict().items()})
            losses = [x.item() for x in losses]
        rows.append(snapshot_row(budgets_min[len(rows)], t, seconds, config, losses))
        print(f"torch: {t} steps in {seconds:.1f} s", flush=True)
    summary = {
        "device": device,
        "threads": torch.get_num_threads(),
        "g_params": counts[0],
        "d_params": counts[1],
        "first_step_s": first_step_s,
        "steady_images_per_s": steady_rate(config, first_step_s, rows),
        "snapshots": rows,
    }
    return summary, states


def torch_standing_stats(torch, g, standing_z: np.ndarray) -> None:
    """gan_jax's standing statistics (`sample.standing_stats`) in ``g``'s BatchNorms: each
    running mean and variance set to the batch statistics of one training-mode pass over
    ``standing_z`` (momentum 1; the unbiased variance PyTorch records times (n−1)/n, the
    biased one Flax's BatchNorm keeps), then ``g`` in inference mode."""
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    counts, hooks = {}, []
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = 1.0
        hooks.append(
            norm.register_forward_pre_hook(lambda m, x: counts.__setitem__(m, x[0].numel() // x[0].shape[1]))
        )
    g.train()
    with torch.no_grad():
        g(torch.from_numpy(np.array(standing_z, np.float32)))
    for norm, hook in zip(norms, hooks):
        hook.remove()
        norm.running_var.mul_((counts[norm] - 1) / counts[norm])
    g.eval()


def torch_generator(modules, config, state_dict, standing_z: np.ndarray):
    """``z (n, z_dim) -> images (n, H, W, C)`` in [-1, 1] from the PyTorch EMA generator,
    with standing statistics as gan_jax samples (`torch_standing_stats`)."""
    torch, torch_peer, _ = modules
    g, _ = torch_peer.make_dcgan(config)
    g.load_state_dict(state_dict)
    torch_standing_stats(torch, g, standing_z)

    def generate(z):
        with torch.no_grad():
            return g(torch.from_numpy(np.array(z, np.float32))).permute(0, 2, 3, 1).float().numpy()

    return generate


# ----------------------------------------------------------------------------
# Scoring: one function for both frameworks


def make_scorer(config, run, num_samples: int):
    """``generate -> {'value', 'protocol'}``: fd_fmnist of ``generate``'s images (``generate``:
    z (n, z_dim) → float images (n, H, W, C) in [-1, 1]) for the same ``num_samples`` z,
    quantised to uint8, against the reference features of ``config.eval.split``."""
    nets = evaluator.feature_nets(config, [METRIC])
    real = evaluation.reference_sets(config, nets, config.eval.split, run.mesh)
    bs = config.eval.batch_size
    extract = features_lib.make_extractor(nets["fmnist"], run.mesh, bs)
    z = np.asarray(sample_noise(jax.random.fold_in(run.keys["eval"], 0), num_samples, config.model.z_dim))

    def score(generate) -> dict:
        batches = (np.asarray(features_lib.to_uint8(generate(z[i : i + bs]))) for i in range(0, len(z), bs))
        fake = evaluator.Samples(*features_lib.extract_all(extract, batches))
        return evaluator.compute([METRIC], real, {"fmnist": fake}, config.eval.split)[METRIC]

    return score


def add_scores(summary: dict, generators: list, score) -> None:
    for row, generate in zip(summary["snapshots"], generators):
        result = score(generate)
        row[METRIC], row["protocol"] = result["value"], result["protocol"]
        print(f"  {row['budget_min']:g} min, {row['steps']} steps: {METRIC} {row[METRIC]:.3f}", flush=True)


# ----------------------------------------------------------------------------


def table_rows(budgets_min: list[float], results: dict) -> list[dict]:
    rows = []
    for i, budget in enumerate(budgets_min):
        row = {"budget_min": budget}
        for name in FRAMEWORKS:
            snaps = results.get(name, {}).get("snapshots")
            snap = snaps[i] if snaps and i < len(snaps) else {}
            row[f"{name}_steps"] = snap.get("steps")
            row[f"{name}_img_s"] = snap.get("images_per_s")
            row[f"{name}_{METRIC}"] = snap.get(METRIC)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dcgan_fashion_mnist", help="a configs/ name (or its .py)")
    parser.add_argument("--overrides", default="", help="comma-separated config overrides (a.b=c,d=e)")
    parser.add_argument("--budgets_min", default="5,10,20", help="wall-clock budgets in minutes")
    parser.add_argument("--frameworks", default="gan_jax,torch", help="in this order, one after the other")
    parser.add_argument("--num_samples", type=int, default=10_000, help="generated images per score")
    parser.add_argument("--seed", type=int, default=None, help="default: the config's seed")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    name = os.path.splitext(os.path.basename(args.config))[0]
    config = common.load_config(name)
    overrides = [o for o in args.overrides.split(",") if o]
    apply_overrides(config, overrides)
    if args.seed is not None:
        config.seed = args.seed
    budgets = parse_budgets(args.budgets_min)
    frameworks = [f for f in args.frameworks.split(",") if f]
    if not frameworks or set(frameworks) - set(FRAMEWORKS):
        raise SystemExit(f"--frameworks={args.frameworks!r}: choose from {','.join(FRAMEWORKS)}")
    problems = recipe_problems(config, with_torch="torch" in frameworks)
    if problems:
        raise SystemExit(f"{name} {overrides}: " + "; ".join(problems))
    modules = import_torch() if "torch" in frameworks else None
    if modules:
        modules[0].set_num_threads(os.cpu_count())

    run = build.build(config)  # keys, mesh and sampler for scoring; each side builds its own to train
    abstract = run.abstract_state()
    expected = (count_params(abstract.g_params), count_params(abstract.d_params))
    info = common.machine()
    info["gan_jax"] = gan_jax_version
    out = args.out or os.path.join(
        common.REPO, "benchmarks", "results", f"time_to_quality_{info['backend']}.json"
    )
    payload = {
        "machine": info,
        "command": " ".join([sys.executable, *sys.argv]),
        "config": name,
        "overrides": overrides,
        "seed": config.seed,
        "budgets_min": budgets,
        "num_samples": args.num_samples,
        "results": {},
    }
    if "torch" in frameworks and modules is None:
        payload["results"]["torch"] = {"skipped": f"no torch in {sys.executable}"}
        frameworks.remove("torch")
    score = None
    for framework in frameworks:
        print(f"{framework}: training for {budgets[-1]:g} min, snapshots at {budgets} min", flush=True)
        if framework == "gan_jax":
            summary, params = train_gan_jax(config, budgets)
            sampler = run.sampler()
            apply = jax.jit(sampler.apply)
            generators = [gan_jax_generator(sampler, apply, *p) for p in params]
        else:
            summary, states = train_torch(config, budgets, expected, modules)
            standing_z = np.asarray(
                sample.standing_batch(
                    run.keys["sample"], config.sample.standing_stats, config.model.z_dim, 0
                )[0]
            )
            generators = [torch_generator(modules, config, s, standing_z) for s in states]
        score = score or make_scorer(config, run, args.num_samples)
        add_scores(summary, generators, score)
        payload["results"][framework] = summary
        payload["table"] = table_rows(budgets, payload["results"])
        common.write_json(out, payload)  # after each framework: a later failure keeps it
    if not frameworks:
        common.write_json(out, payload)
    print()
    rows = table_rows(budgets, payload["results"])
    common.print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
