"""StyleGAN2's training step: gan_jax against NVlabs' stylegan2-ada-pytorch, side by side.

    GAN_JAX_TORCH_PYTHON=/path/to/torch/python STYLEGAN2_ADA_PYTORCH=/path/to/checkout \
        python benchmarks/stylegan2_vs_nvlabs.py --config stylegan2_fashion_mnist --cycles 5

    (narrower or other shapes: --override model.stylegan2.channel_base=512 --override batch_size=16 ...;
    on a machine with more cores, prefix `taskset -c 0,1` so that both see the same two)

What is timed, in each framework, over whole cycles of lcm(r1_every, pl_every) steps (16
for StyleGAN2) after ``--warmup_cycles`` untimed ones (gan_jax compiles its step
variants there), the figure being the median cycle over its length:

* gan_jax: the trainer's step, ``build(config).stepper()`` (D main, D reg when due, G main,
  G reg when due, EMA), on a device-resident uint8 batch, device synchronised per cycle;
* NVlabs: `benchmarks/peers/stylegan2_step.py`, run by the torch Python in a subprocess
  *after* gan_jax has finished (the two never run at once): NVlabs' own networks, loss and
  Adam, in its training loop's phase order (Gmain, Greg, Dmain, Dreg) with its EMA.

"Same widths" means the same network shapes, not the same weights: resolution, image
channels, classes, z and w sizes, mapping depth, channels min(channel_base / r, channel_max)
at each resolution r, minibatch-std group and channels, conv clamp and D architecture, all
passed from the gan_jax config to NVlabs' constructors; the parameter counts of G and D are
checked equal before anything is timed. The training settings travel too: batch, style
mixing, R1 γ and interval, path-length weight, decay, batch shrink and interval, Adam's lr,
betas and eps (both scaled for lazy phases by each framework itself), EMA half-life and
ramp-up. Augmentation is off in both (a config's ADA is switched off, and said so).

Known differences in the work: NVlabs' Dmain backpropagates its fake and real halves
separately, moves w_avg in D's phase too (gan_jax moves it in G's phases only), and
reports training_stats; with pl_weight 0 or r1_gamma 0 it still runs the (then empty) lazy
phase's optimizer call, which gan_jax does not have. Those are each framework's own costs
and are timed. Prints a table, the ratio gan_jax images/s ÷ NVlabs images/s, and writes
JSON (default ``benchmarks/results/stylegan2_vs_nvlabs_<backend>.json``).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402

import common  # noqa: E402
from train_step import apply_overrides, synthetic_batch  # noqa: E402

from gan_jax import parallel  # noqa: E402
from gan_jax.training import build
from gan_jax.training.state import count_params  # noqa: E402

PEER = os.path.join(common.REPO, "benchmarks", "peers", "stylegan2_step.py")


def missing_peer(torch_python: str, checkout: str) -> str:
    """What of the NVlabs side is absent, '' when both are there."""
    absent = []
    if not torch_python or not os.path.exists(torch_python):
        absent.append(f"a Python with torch (--torch_python or $GAN_JAX_TORCH_PYTHON; now {torch_python!r})")
    if not checkout or not os.path.isdir(os.path.join(checkout, "training")):
        absent.append(
            f"a stylegan2-ada-pytorch checkout (--checkout or $STYLEGAN2_ADA_PYTORCH; now {checkout!r})"
        )
    return "; ".join(absent)


def check_comparable(config) -> list[str]:
    """Refuses settings NVlabs' StyleGAN2 step has no counterpart for; switches augmentation
    off (NVlabs' side runs without its pipeline) and returns notes on what it changed."""
    m, reg = config.model, config.regularizer
    problems = []
    if m.architecture != "stylegan2":
        problems.append(f"model.architecture={m.architecture!r} (needs 'stylegan2')")
    if (config.loss.d_loss, config.loss.g_loss) != ("non_saturating", "non_saturating"):
        problems.append("loss.d_loss / g_loss must be 'non_saturating'")
    if config.n_critic != 1:
        problems.append(f"n_critic={config.n_critic} (NVlabs: 1)")
    if reg.r2_gamma or reg.gp_lambda or reg.lecam_lambda:
        problems.append("regularizer.r2_gamma, gp_lambda and lecam_lambda must be 0")
    for side in ("g", "d"):
        opt = config.optimizer[side]
        if opt.weight_decay or opt.l1 or opt.l2 or opt.grad_clip:
            problems.append(f"optimizer.{side}: weight_decay, l1, l2 and grad_clip must be 0")
    if not config.ema.half_life_kimg:
        problems.append("ema.half_life_kimg must be > 0 (NVlabs' EMA is by half-life)")
    if problems:
        raise SystemExit("not comparable with NVlabs' StyleGAN2 step: " + "; ".join(problems))
    notes = []
    if config.augment.kind:
        notes.append(f"augment.kind={config.augment.kind!r} switched off (NVlabs side: no augment pipe)")
        config.augment.kind = ""
    return notes


def peer_arguments(config) -> list[str]:
    """NVlabs' construction and training arguments for the shapes and settings of ``config``."""
    m, reg, opt = config.model, config.regularizer, config.optimizer
    s = config.model.stylegan2
    values = {
        "resolution": config.dataset.resolution,
        "img-channels": config.dataset.channels,
        "num-classes": m.num_classes,
        "z-dim": m.z_dim,
        "w-dim": s.w_dim,
        "mapping-layers": s.mapping_layers,
        "mapping-lr-mul": s.mapping_lr_mul,
        "w-avg-beta": s.w_avg_beta,
        "channel-base": s.channel_base,
        "channel-max": s.channel_max,
        "conv-clamp": s.conv_clamp or 0.0,
        "num-fp16-res": s.num_bf16_res,
        "mbstd-group": s.mbstd_group,
        "mbstd-channels": s.mbstd_channels,
        "d-architecture": s.d_architecture,
        "batch": config.batch_size,
        "style-mixing-prob": s.style_mixing_prob,
        "r1-gamma": reg.r1_gamma,
        "d-reg-interval": reg.r1_every,
        "pl-weight": reg.pl_weight,
        "pl-decay": reg.pl_decay,
        "pl-batch-shrink": reg.pl_batch_shrink,
        "g-reg-interval": reg.pl_every,
        "ema-kimg": config.ema.half_life_kimg,
        "ema-rampup": config.ema.rampup,
    }
    args = [f"--{k}={v}" for k, v in values.items()]
    for side in ("g", "d"):
        o = opt[side]
        args += [
            f"--{side}-lr={o.learning_rate}",
            f"--{side}-betas",
            str(o.b1),
            str(o.b2),
            f"--{side}-eps={o.eps}",
        ]
    return args


def run_peer(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the NVlabs peer failed (exit {done.returncode}): {' '.join(command)}")
    return done.stdout


def time_gan_jax(config, cycle: int, cycles: int, warmup_cycles: int) -> dict:
    """Median ms per step of gan_jax's stepper over whole cycles, and the warm-up time."""
    mesh = parallel.create_mesh()
    start = time.perf_counter()
    run = build.build(config, mesh)
    state = run.init_state()
    batch, key = synthetic_batch(config, config.batch_size, mesh), run.keys["train"]
    jax.block_until_ready(state)
    build_s = time.perf_counter() - start
    counts = {"g_params": count_params(state.g_params), "d_params": count_params(state.d_params)}
    stepper = run.stepper()
    step, cycle_s = 0, []
    for _ in range(warmup_cycles + cycles):
        start = time.perf_counter()
        for _ in range(cycle):
            state, metrics = stepper(state, batch, key, step)
            step += 1
        jax.block_until_ready((state, metrics))
        cycle_s.append(time.perf_counter() - start)
    timed = cycle_s[warmup_cycles:]
    seconds = statistics.median(timed) / cycle
    return {
        **counts,
        "ms_per_step": 1e3 * seconds,
        "images_per_s": config.batch_size / seconds,
        "cycle_seconds": timed,
        "warmup_seconds": sum(cycle_s[:warmup_cycles]),
        "build_seconds": build_s,
        "programs": len(getattr(stepper, "variants", {})) or 1,
    }


def print_comparison(ours: dict, theirs: dict, peer: str) -> float:
    """Prints both timings as a table and returns gan_jax images/s ÷ the peer's."""
    ratio = ours["images_per_s"] / theirs["images_per_s"]
    params = f"{ours['g_params']:,} + {ours['d_params']:,}"
    rows = [
        {
            "implementation": "gan_jax",
            "G + D params": params,
            "ms_per_step": ours["ms_per_step"],
            "images_per_s": ours["images_per_s"],
            "warmup_s": ours["warmup_seconds"],
        },
        {
            "implementation": f"{peer} (torch {theirs['versions']['torch']}, "
            f"{theirs['versions']['threads']} threads)",
            "G + D params": params,
            "ms_per_step": theirs["ms_per_step"],
            "images_per_s": theirs["images_per_s"],
            "warmup_s": theirs["warmup_seconds"],
        },
    ]
    print()
    common.print_table(rows, list(rows[0]))
    print(f"ratio (gan_jax images/s ÷ {peer} images/s): {ratio:.3f}")
    return ratio


def git_commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", common.REPO, "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="stylegan2_fashion_mnist")
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        help="section.field=value, e.g. model.stylegan2.channel_base=512 or batch_size=16",
    )
    parser.add_argument("--cycles", type=int, default=5, help="timed cycles (median)")
    parser.add_argument(
        "--warmup_cycles",
        type=int,
        default=1,
        help="untimed cycles first (gan_jax compiles here); at least 1",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--torch_python", default=os.environ.get("GAN_JAX_TORCH_PYTHON", ""))
    parser.add_argument("--checkout", default=os.environ.get("STYLEGAN2_ADA_PYTORCH", ""))
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    absent = missing_peer(args.torch_python, args.checkout)
    if absent:
        print(f"skipped: the NVlabs side is absent: {absent}")
        return
    config = common.load_config(args.config)
    apply_overrides(config, args.override)
    notes = check_comparable(config)
    reg = config.regularizer
    cycle = math.lcm(reg.r1_every, reg.pl_every)
    warmup = max(1, args.warmup_cycles)
    peer = [
        args.torch_python,
        PEER,
        "--checkout",
        args.checkout,
        *peer_arguments(config),
        f"--threads={args.threads}",
        f"--cycles={args.cycles}",
        f"--warmup-cycles={warmup}",
    ]
    res, s = config.dataset.resolution, config.model.stylegan2
    widths = {2**i: min(s.channel_base // 2**i, s.channel_max) for i in range(2, res.bit_length())}
    print(
        f"{args.config} {' '.join(args.override)}: batch {config.batch_size}, {res} px, "
        f"channels per resolution {widths}; cycles of {cycle} steps, {warmup} warm-up + "
        f"{args.cycles} timed"
    )
    for note in notes:
        print(f"note: {note}")

    # Shapes first: a mismatch should stop the run before minutes of timing.
    theirs = json.loads(run_peer(peer + ["--count-only"]).strip().splitlines()[-1])
    ours = time_gan_jax(config, cycle, args.cycles, warmup)
    mine = {k: ours[k] for k in ("g_params", "d_params")}
    if mine != theirs:
        raise SystemExit(f"parameter counts differ: gan_jax {mine}, NVlabs {theirs}: not the same networks")
    print(f"gan_jax: {ours['ms_per_step']:.1f} ms/step, {ours['images_per_s']:.1f} images/s")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "nvlabs.json")
        print(run_peer(peer + ["--out", path]).strip().splitlines()[-1])
        with open(path) as f:
            nvlabs = json.load(f)

    ratio = print_comparison(ours, nvlabs, "NVlabs")
    info = common.machine()
    out = args.out or os.path.join(
        common.REPO, "benchmarks", "results", f"stylegan2_vs_nvlabs_{info['backend']}.json"
    )
    common.write_json(
        out,
        {
            "machine": info,
            "gan_jax_commit": git_commit(),
            "config": args.config,
            "overrides": args.override,
            "notes": notes,
            "batch_size": config.batch_size,
            "resolution": res,
            "channels_per_resolution": widths,
            "cycle_steps": cycle,
            "cycles": args.cycles,
            "warmup_cycles": warmup,
            "gan_jax": ours,
            "nvlabs": nvlabs,
            "ratio_images_per_s": ratio,
            "peer_command": peer,
        },
    )


if __name__ == "__main__":
    main()
