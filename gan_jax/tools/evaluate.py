"""Evaluate a run's EMA generator and print a table.

    python -m gan_jax.tools.evaluate --workdir W [--metrics fd_fmnist,kd_fmnist,pr_fmnist,dc_fmnist]
        [--num_samples 10000] [--checkpoint STEP|best] [--split test] [--samples ema|init|real:SPLIT]
        [--inception_weights inception_fid.npz]   # for fid, kid, is, pr, dc
        [--classes 7[,9]]                          # the reference: only these classes' images
        [--out results.jsonl]                      # append the results there as a JSON line

``--samples init`` evaluates the untrained generator of the run's config (a ceiling);
``--samples real:train`` evaluates ``num_samples`` real images of another split in
place of generated ones (the real-vs-real floor). ``--classes`` compares with the images of
those classes alone (``dataset.classes``; a run fine-tuned on one class already has it).
Results are printed, and appended to ``--out`` when given. The run is only read: its
checkpoints are opened read-only and nothing in W is written (training's own evaluations
go to ``W/eval.jsonl``).
"""

import json
import os

import jax
import ml_collections
import numpy as np
from absl import flags

from gan_jax import config as config_lib, parallel
from gan_jax.training import build
from gan_jax.run import loading as runs
from gan_jax.tools import cli
from gan_jax.data import sources as datasets
from gan_jax.errors import ConfigError
from gan_jax.metrics import evaluator
from gan_jax.run import evaluation
from gan_jax.metrics import features as features_lib


def define_flags() -> None:
    """Command-line flags, defined only when run as a program (importing stays side-effect free)."""
    flags.DEFINE_string("workdir", None, "The run to evaluate.")
    flags.DEFINE_string("metrics", "fd_fmnist,kd_fmnist,pr_fmnist,dc_fmnist", "Comma-separated metric names.")
    flags.DEFINE_integer("num_samples", None, "Generated images (default: the config's eval.num_samples).")
    flags.DEFINE_string("checkpoint", None, "Checkpoint step, or 'best' (default: the latest).")
    flags.DEFINE_string("split", None, "Reference split (default: the config's eval.split).")
    flags.DEFINE_string("samples", "ema", "ema | init | real:SPLIT")
    flags.DEFINE_string("inception_weights", None, "Converted FID Inception .npz (for fid, kid, is, pr, dc).")
    flags.DEFINE_string("classes", None, "Compare with these classes' images only, e.g. 7 or 2,7.")
    flags.DEFINE_string(
        "out", None, "Append the results as one JSON line to this file (the run itself is never written)."
    )


FLAGS = flags.FLAGS


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise ConfigError(f"{workdir} has no config.json; is it a gan_jax workdir?")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(
            f"{path} is unreadable or not JSON ({e}); it is rewritten by every "
            f"training start, or restore it from a checkpoint's config"
        ) from None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} does not hold a config (a JSON object)")
    return config_lib.from_dict(saved)


def real_features(config, split: str, nets: dict, num_samples: int, mesh) -> dict:
    """`Samples` of ``num_samples`` images of ``split`` drawn with the run's seed, per network."""
    ds = config.dataset.copy_and_resolve_references()
    ds.split, ds.max_examples = split, 0
    data = datasets.load_dataset(ds)
    if num_samples > len(data):
        raise ConfigError(f"--num_samples={num_samples} but split {split!r} has {len(data)} images")
    order = np.sort(np.random.default_rng(config.seed).permutation(len(data))[:num_samples])
    bs = config.eval.batch_size
    out = {}
    for name, net in nets.items():  # read a batch at a time: a streamed dataset stays on disk
        extract = features_lib.make_extractor(net, mesh, bs)
        out[name] = evaluator.Samples(
            *features_lib.extract_all(
                extract, (data.read(order[i : i + bs]) for i in range(0, len(order), bs))
            )
        )
    return out


def _with_request(config: ml_collections.ConfigDict, inception_weights: str | None, classes: str | None):
    """The run's config with the command line's reference classes and Inception weights."""
    if classes:
        config.dataset.classes = parse_classes(classes)
    if inception_weights:
        config.eval.inception_weights = inception_weights
    return config


def _generator(workdir: str, samples: str, which: str | None, mesh) -> tuple:
    """(build.Generator, its state, what it is) for ``--samples ema`` (the checkpoint's
    config and EMA generator) or ``init`` (the untrained generator of config.json)."""
    if samples == "ema":
        gen, state, step = runs.restore_generator(workdir, which, mesh=mesh)
        return gen, state, f"the EMA generator at step {step}"
    if samples == "init":
        gen = build.build_generator(load_run_config(workdir), mesh)
        return gen, gen.init_state(), "the untrained generator"
    raise ConfigError(f"--samples={samples!r}: use ema, init or real:SPLIT")


def evaluate_workdir(
    workdir: str,
    metric_names: str,
    num_samples: int | None,
    which: str | None,
    split: str | None,
    samples: str,
    inception_weights: str | None = None,
    classes: str | None = None,
) -> tuple[dict[str, dict], str]:
    """(results, what was evaluated). ``which``: the checkpoint (None: the latest; a step;
    'best'); the config is the one saved with it (``config.json`` for ``init`` and ``real:``)."""
    mesh = parallel.create_mesh()
    if samples.startswith("real:"):
        gen = state = None
        config = load_run_config(workdir)
    else:
        gen, state, what = _generator(workdir, samples, which, mesh)
        config = gen.config
    config = _with_request(config, inception_weights, classes)
    names = evaluator.parse_metrics(metric_names, config.model.num_classes)
    split = split or config.eval.split
    num_samples = config.eval.num_samples if num_samples is None else num_samples
    if num_samples < 2:
        raise ConfigError(
            f"--num_samples={num_samples}: the metrics need at least 2 samples "
            f"(their statistics are over samples; 10000 is the usual count)"
        )
    if gen is None:
        nets = evaluator.feature_nets(config, names)
        fake = real_features(config, samples[5:], nets, num_samples, mesh)
        real = evaluation.reference_sets(config, nets, split, mesh)
        what = f"{num_samples} real images of {samples[5:]}"
        return evaluator.compute(names, real, fake, split, fake_label=samples[5:]), what
    evaluate = evaluation.make_evaluation(config, gen, names, num_samples, split)
    return evaluate(state.ema_params, state.g_vars), what


def parse_classes(text: str) -> tuple[int, ...]:
    """``'2,7'`` → (2, 7)."""
    try:
        classes = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise ConfigError(f"--classes={text!r}: give class numbers, e.g. 7 or 2,7") from None
    if min(classes) < 0:
        raise ConfigError(f"--classes={text!r}: class numbers are >= 0")
    return classes


def format_table(results: dict[str, dict]) -> str:
    width = max(len(k) for k in results)
    lines = [f"{'metric':<{width}}  {'value':>12}  protocol"]
    lines += [f"{k:<{width}}  {v['value']:>12.6g}  {v['protocol']}" for k, v in results.items()]
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    if not FLAGS.workdir:
        cli.fail("--workdir is required")
    results, what = evaluate_workdir(
        FLAGS.workdir,
        FLAGS.metrics,
        FLAGS.num_samples,
        FLAGS.checkpoint,
        FLAGS.split,
        FLAGS.samples,
        FLAGS.inception_weights,
        FLAGS.classes,
    )
    print(f"{what}:")
    print(format_table(results))
    if FLAGS.out and jax.process_index() == 0:
        record = {"workdir": os.path.abspath(FLAGS.workdir), "samples": what, "results": results}
        try:
            with open(cli.output_path(FLAGS.out), "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise ConfigError(f"cannot write {FLAGS.out}: {e.strerror}") from None
        print(f"appended to {FLAGS.out}")


def console_main() -> None:
    """The ``gan-jax-evaluate`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
