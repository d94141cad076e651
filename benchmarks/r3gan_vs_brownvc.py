"""R3GAN's training step: gan_jax against the authors' brownvc/R3GAN, side by side.

    GAN_JAX_TORCH_PYTHON=/path/to/torch/python R3GAN_CHECKOUT=/path/to/R3GAN \
        python benchmarks/r3gan_vs_brownvc.py --config r3gan_fashion_mnist --cycles 5

What is timed, in each framework, over cycles of ``--cycle_steps`` steps after untimed
warm-up steps (gan_jax compiles there), the figure being the median cycle over its length:

* gan_jax: the trainer's step, ``build(config).stepper()`` (D: RpGAN + R1 + R2, G: RpGAN,
  EMA), on a device-resident uint8 batch, device synchronised per cycle;
* brownvc/R3GAN: `benchmarks/peers/r3gan_step.py`, run by the torch Python in a subprocess
  *after* gan_jax has finished (the two never run at once): the authors' networks, loss and
  Adam in its training loop's phase order (D, G) with its EMA.

Same networks: resolution, widths, blocks, groups, expansion, z size and classes travel
from the gan_jax config, and the parameter counts of G and D are checked equal before
anything is timed. R3GAN's networks have three image channels, so the gan_jax config is
set to three (said in the output). Settings that travel: batch, lr, β₂, eps, γ (the
starting values of their schedules), the EMA length. Augmentation is off in both.

Known differences in the work: brownvc's loop draws a second real batch for G's phase
(gan_jax's G phase reads the batch D used; the cost is the same) and backpropagates D's
loss once through both halves; R1 and R2 are gan_jax's own terms. Each framework's own
costs are timed. Prints a table and the ratio gan_jax images/s ÷ brownvc images/s, and
writes JSON (default ``benchmarks/results/r3gan_vs_brownvc_<backend>.json``).
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from stylegan2_vs_nvlabs import git_commit, print_comparison, run_peer, time_gan_jax  # noqa: E402
from train_step import apply_overrides  # noqa: E402

from gan_jax.models import r3gan  # noqa: E402

PEER = os.path.join(common.REPO, "benchmarks", "peers", "r3gan_step.py")


def missing_peer(torch_python: str, checkout: str) -> str:
    """What of the brownvc side is absent, '' when both are there."""
    absent = []
    if not torch_python or not os.path.exists(torch_python):
        absent.append(f"a Python with torch (--torch_python or $GAN_JAX_TORCH_PYTHON; now {torch_python!r})")
    if not checkout or not os.path.isdir(os.path.join(checkout, "R3GAN")):
        absent.append(f"a brownvc/R3GAN checkout (--checkout or $R3GAN_CHECKOUT; now {checkout!r})")
    return "; ".join(absent)


def check_comparable(config) -> list[str]:
    """Refuses settings brownvc's step has no counterpart for; sets three image channels and
    switches augmentation off; returns notes on what it changed."""
    m, reg, loss = config.model, config.regularizer, config.loss
    s = config.model.r3gan
    problems = []
    if m.architecture != "r3gan":
        problems.append(f"model.architecture={m.architecture!r} (needs 'r3gan')")
    if (loss.d_loss, loss.g_loss) != ("relativistic", "relativistic"):
        problems.append("loss.d_loss / g_loss must be 'relativistic'")
    if reg.r1_every != 1 or reg.r2_every != 1 or reg.r1_gamma != reg.r2_gamma:
        problems.append("R1 and R2 must be every step with one γ (brownvc: both, every step)")
    if reg.gp_lambda or reg.lecam_lambda or config.n_critic != 1:
        problems.append("gp_lambda, lecam_lambda must be 0 and n_critic 1")
    if s.num_bf16_res:
        problems.append("model.r3gan.num_bf16_res must be 0 (timed in float32)")
    if problems:
        raise SystemExit("not comparable with brownvc/R3GAN's step: " + "; ".join(problems))
    notes = []
    if config.dataset.channels != 3:
        notes.append(f"dataset.channels={config.dataset.channels} set to 3 (R3GAN's networks are RGB)")
        config.dataset.channels = 3
    if config.augment.kind:
        notes.append(f"augment.kind={config.augment.kind!r} switched off (brownvc side: none)")
        config.augment.kind = ""
    return notes


def peer_arguments(config) -> list[str]:
    m, opt = config.model, config.optimizer.d
    s = config.model.r3gan
    widths, blocks, groups = r3gan.stage_plan(
        config.dataset.resolution, s.g_width, s.stage_widths, s.stage_blocks, s.stage_groups, s.expansion
    )
    ints = lambda v: ",".join(map(str, v))  # noqa: E731
    return [
        f"--resolution={config.dataset.resolution}",
        f"--num-classes={m.num_classes}",
        f"--z-dim={m.z_dim}",
        f"--widths={ints(widths)}",
        f"--blocks={ints(blocks)}",
        f"--groups={ints(groups)}",
        f"--expansion={s.expansion}",
        f"--batch={config.batch_size}",
        f"--lr={opt.learning_rate}",
        f"--beta2={opt.b2}",
        f"--eps={opt.eps}",
        f"--gamma={config.regularizer.r1_gamma}",
        f"--ema-nimg={1000 * config.ema.half_life_kimg}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="r3gan_fashion_mnist")
    parser.add_argument(
        "--override", action="append", default=[], help="section.field=value, e.g. batch_size=16"
    )
    parser.add_argument("--cycles", type=int, default=5, help="timed cycles (median)")
    parser.add_argument("--cycle_steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--torch_python", default=os.environ.get("GAN_JAX_TORCH_PYTHON", ""))
    parser.add_argument("--checkout", default=os.environ.get("R3GAN_CHECKOUT", ""))
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    absent = missing_peer(args.torch_python, args.checkout)
    if absent:
        print(f"skipped: the brownvc side is absent: {absent}")
        return
    config = common.load_config(args.config)
    apply_overrides(config, args.override)
    notes = check_comparable(config)
    peer = [
        args.torch_python,
        PEER,
        "--checkout",
        args.checkout,
        *peer_arguments(config),
        f"--threads={args.threads}",
        f"--cycles={args.cycles}",
        f"--cycle-steps={args.cycle_steps}",
        "--warmup-steps=2",
    ]
    print(
        f"{args.config} {' '.join(args.override)}: batch {config.batch_size}, "
        f"{config.dataset.resolution} px; {args.cycles} timed cycles of {args.cycle_steps} steps"
    )
    for note in notes:
        print(f"note: {note}")

    theirs = json.loads(run_peer(peer + ["--count-only"]).strip().splitlines()[-1])
    ours = time_gan_jax(config, args.cycle_steps, args.cycles, 1)
    mine = {k: ours[k] for k in ("g_params", "d_params")}
    if mine != theirs:
        raise SystemExit(f"parameter counts differ: gan_jax {mine}, brownvc {theirs}: not the same networks")
    print(f"gan_jax: {ours['ms_per_step']:.1f} ms/step, {ours['images_per_s']:.1f} images/s")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "brownvc.json")
        print(run_peer(peer + ["--out", path]).strip().splitlines()[-1])
        with open(path) as f:
            theirs = json.load(f)

    ratio = print_comparison(ours, theirs, "brownvc")
    info = common.machine()
    out = args.out or os.path.join(
        common.REPO, "benchmarks", "results", f"r3gan_vs_brownvc_{info['backend']}.json"
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
            "resolution": config.dataset.resolution,
            "cycle_steps": args.cycle_steps,
            "cycles": args.cycles,
            "gan_jax": ours,
            "brownvc": theirs,
            "ratio_images_per_s": ratio,
            "peer_command": peer,
        },
    )


if __name__ == "__main__":
    main()
