"""Evaluating a generator: samples → features → metrics against cached reference features.

Metric names say which feature network they use. On the domain classifier
(`gan_jax.metrics.classifier`): ``fd_fmnist`` (Fréchet distance), ``kd_fmnist``
(kernel distance, unbiased MMD²), ``pr_fmnist`` (improved precision and recall, k=3)
``dc_fmnist`` (density and coverage, k=5) and, for class-conditional generators,
``acc_fmnist`` (how often the classifier names the class a sample was generated for). On FID's Inception-v3 (weights converted
by `gan_jax.metrics.convert_inception`): ``fid``, ``kid``, ``is``, ``pr`` and ``dc``.

Every result carries a protocol label, ``<metric>_<n>gen_vs_<split><m>``, e.g.
``fd_fmnist_10kgen_vs_test10k``: numbers with different labels are not comparable.

Reference features are computed once per (dataset, split, resolution, channels,
feature network weights) and cached as ``.npz`` in ``eval.cache_dir``.
"""

import dataclasses
import hashlib
import json
import os
from typing import Callable

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from gan_jax import datasets, parallel, sample
from gan_jax.errors import ConfigError
from gan_jax.keys import sample_labels, sample_noise
from gan_jax.metrics import features as features_lib
from gan_jax.metrics import fid, inception_score, kid, precision_recall


@dataclasses.dataclass(frozen=True)
class Samples:
    """What a feature network saw of the samples: features, logits and requested classes."""

    features: np.ndarray
    logits: np.ndarray
    labels: np.ndarray | None = None  # None for real images standing in for samples


@dataclasses.dataclass(frozen=True)
class Metric:
    net: str
    compute: Callable[[np.ndarray, Samples], dict[str, float]]  # (real features, samples) -> values
    higher_is_better: dict[str, bool]
    conditional: bool = False  # needs class-conditional samples


def _fd(real, fake):
    return {"": fid.frechet_distance_of_features(real, fake.features)}


def _kd(real, fake):
    mean, std = kid.kernel_distance(real, fake.features)
    return {"": mean, "_std": std}


def _pr(real, fake):
    p, r = precision_recall.precision_recall(real, fake.features, k=3)
    return {"_precision": p, "_recall": r}


def _dc(real, fake):
    d, c = precision_recall.density_coverage(real, fake.features, k=5)
    return {"_density": d, "_coverage": c}


def _is(_, fake):
    mean, std = inception_score.inception_score(fake.logits, splits=10)
    return {"": mean, "_std": std}


def _class_accuracy(_, fake):
    """Fraction of samples the classifier assigns to the class they were generated for."""
    return {"": float(np.mean(np.argmax(fake.logits, axis=-1) == fake.labels))}


_LOWER = {"": False, "_std": False}
METRICS: dict[str, Metric] = {
    "fd_fmnist": Metric("fmnist", _fd, {"": False}),
    "kd_fmnist": Metric("fmnist", _kd, _LOWER),
    "pr_fmnist": Metric("fmnist", _pr, {"_precision": True, "_recall": True}),
    "dc_fmnist": Metric("fmnist", _dc, {"_density": True, "_coverage": True}),
    "acc_fmnist": Metric("fmnist", _class_accuracy, {"": True}, conditional=True),
    "fid": Metric("inception", _fd, {"": False}),
    "kid": Metric("inception", _kd, _LOWER),
    "is": Metric("inception", _is, {"": True, "_std": False}),
    "pr": Metric("inception", _pr, {"_precision": True, "_recall": True}),
    "dc": Metric("inception", _dc, {"_density": True, "_coverage": True}),
}


def parse_metrics(names: str, num_classes: int | None = None) -> list[str]:
    """Metric names from a comma-separated list; conditional ones need ``num_classes`` > 0."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    for name in chosen:
        if name not in METRICS:
            raise ConfigError(f"unknown metric {name!r}; available: {', '.join(METRICS)}")
        if METRICS[name].conditional and num_classes == 0:
            raise ConfigError(f"{name} measures class-conditional samples; model.num_classes is 0")
    return chosen


def higher_is_better(key: str) -> bool:
    """For a result key such as 'fd_fmnist' or 'pr_fmnist_recall'."""
    for name, metric in METRICS.items():
        if key.startswith(name) and key[len(name) :] in metric.higher_is_better:
            return metric.higher_is_better[key[len(name) :]]
    raise ConfigError(f"{key!r} is not a metric result; results look like 'fd_fmnist', 'pr_fmnist_recall'")


def _count(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def default_cache_dir() -> str:
    # An empty $GAN_JAX_CACHE counts as unset (never the current directory).
    return os.environ.get("GAN_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gan_jax")


def reference_cache_path(ds: ml_collections.ConfigDict, split: str, net, cache_dir: str) -> str:
    """Where `reference_features` caches the features of dataset ``ds``'s ``split`` under ``net``
    (with ``dataset.classes`` set: of those classes' images only)."""
    fields = {k: ds[k] for k in ("name", "source", "path", "resolution", "channels", "resize")}
    if ds.get("classes"):  # a subset of the classes is another reference (set only then, so
        fields["classes"] = sorted(int(c) for c in ds.classes)  # the other keys stay as they were)
    key = json.dumps(fields | {"split": split}, sort_keys=True) + net.weights_id
    return os.path.join(
        cache_dir or default_cache_dir(),
        "reference",
        f"{ds.name}-{split}-{ds.resolution}px-{net.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz",
    )


def reference_features(
    dataset_config: ml_collections.ConfigDict, split: str, net, extract, batch_size: int, cache_dir: str
) -> np.ndarray:
    """Features of every image of ``split``, computed once and cached.

    Extraction is collective, so on several processes the cache is read only when
    every process has it (a cache dir may be local to each host).
    """
    ds = dataset_config.copy_and_resolve_references()
    ds.split, ds.max_examples = split, 0
    path = reference_cache_path(ds, split, net, cache_dir)
    if parallel.all_processes(os.path.exists(path)):
        with np.load(path) as f:
            return f["features"]
    data = datasets.load_dataset(ds)
    root = cache_dir or default_cache_dir()
    if os.path.exists(root) and not os.path.isdir(root):
        raise ConfigError(
            f"the feature cache {root!r} (eval.cache_dir or $GAN_JAX_CACHE) is a file, not a folder"
        )
    feats, _ = features_lib.extract_all(
        extract,
        (data.read(np.arange(i, min(i + batch_size, len(data)))) for i in range(0, len(data), batch_size)),
    )
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}.npz"
        np.savez(tmp, features=feats)
        os.replace(tmp, path)
    except OSError as e:
        raise ConfigError(f"cannot write the feature cache {path}: {e.strerror or e}") from None
    logging.info("cached %d reference features of %s:%s in %s", len(feats), ds.name, split, path)
    return feats


def make_generated_features(
    sampler: sample.Sampler, z_dim: int, num_classes: int, net, mesh: Mesh, batch_size: int
) -> Callable[[object, dict, jax.Array, int], Samples]:
    """``(ema_params, g_vars, key, n) -> Samples`` of n samples of the EMA generator.

    The run's sampler gives the images: BatchNorm statistics recomputed for the EMA weights
    on the run's standing batch (the same as the training grids and ``generate`` use), then
    each image depends on its own noise only. Conditional generators draw their classes
    uniformly. Generation, quantisation and feature extraction run in one compiled,
    sharded function.
    """
    parallel.check_batch_size(batch_size, mesh)
    replicated, sharded = parallel.replicated(mesh), parallel.data_sharded(mesh)

    def features_of(params, stats, z, labels):
        return net.apply(features_lib.to_uint8(sampler.apply(params, stats, z, labels)))

    feat_fn = jax.jit(
        features_of, in_shardings=(replicated, replicated, sharded, sharded), out_shardings=replicated
    )

    def inputs(key, size):
        return (
            sample_noise(jax.random.fold_in(key, 0), size, z_dim),
            sample_labels(jax.random.fold_in(key, 1), size, num_classes),
        )

    def generate(params, g_vars, key, n):
        z_key = jax.random.fold_in(key, 1)
        stats = sampler.stats(params, g_vars)
        feats, logits, labels = [], [], []
        for i in range(-(-n // batch_size)):
            z, y = (np.asarray(a) for a in inputs(jax.random.fold_in(z_key, i), batch_size))
            f, l = jax.device_get(
                feat_fn(
                    params,
                    stats,
                    parallel.from_every_process(z, sharded),
                    parallel.from_every_process(y, sharded),
                )
            )
            feats.append(f), logits.append(l), labels.append(y)
        return Samples(
            np.concatenate(feats)[:n].astype(np.float32),
            np.concatenate(logits)[:n].astype(np.float32),
            np.concatenate(labels)[:n],
        )

    return generate


def compute(
    names: list[str],
    real: dict[str, np.ndarray],
    fake: dict[str, Samples],
    split: str,
    fake_label: str = "gen",
) -> dict[str, dict]:
    """{result key: {'value', 'protocol'}} for each metric, given per network the real
    features and the `Samples`.

    ``fake_label`` names what stands in the place of generated images in the protocol
    (``gen``, or a split name when real images are compared with real ones).
    """
    results = {}
    for name in names:
        metric = METRICS[name]
        r, f = real[metric.net], fake[metric.net]
        if metric.conditional and f.labels is None:
            raise ConfigError(f"{name} needs generated samples of requested classes")
        protocol = f"{name}_{_count(len(f.features))}{fake_label}_vs_{split}{_count(len(r))}"
        for suffix, value in metric.compute(r, f).items():
            results[name + suffix] = {"value": float(value), "protocol": protocol}
    return results


def feature_nets(config: ml_collections.ConfigDict, names: list[str]) -> dict[str, features_lib.FeatureNet]:
    """Each feature network the metrics ``names`` need, loaded once."""
    return {
        n: features_lib.get_feature_net(n, config.eval.inception_weights)
        for n in sorted({METRICS[name].net for name in names})
    }


def reference_sets(
    config: ml_collections.ConfigDict, nets: dict[str, features_lib.FeatureNet], split: str, mesh: Mesh
) -> dict[str, np.ndarray]:
    """Reference features of ``split`` for each of ``nets``."""
    bs = config.eval.batch_size
    return {
        name: reference_features(
            config.dataset, split, net, features_lib.make_extractor(net, mesh, bs), bs, config.eval.cache_dir
        )
        for name, net in nets.items()
    }


def make_evaluation(
    config: ml_collections.ConfigDict,
    run,
    metric_names: list[str] | None = None,
    num_samples: int | None = None,
    split: str | None = None,
) -> Callable[[object, dict], dict[str, dict]]:
    """``(ema_params, g_vars) -> results`` for ``config.eval`` (arguments override it), with
    the samples of ``run``'s sampler (`gan_jax.build.Run`).

    Builds the feature networks and loads (or computes and caches) the reference
    features once; each call then only generates and extracts.
    """
    if metric_names is None:
        metric_names = parse_metrics(config.eval.metrics, config.model.num_classes)
    num_samples = num_samples or config.eval.num_samples
    split = split or config.eval.split
    key, mesh, sampler = run.keys["eval"], run.mesh, run.sampler()
    nets = feature_nets(config, metric_names)
    real = reference_sets(config, nets, split, mesh)
    generators = {
        name: make_generated_features(
            sampler, config.model.z_dim, config.model.num_classes, net, mesh, config.eval.batch_size
        )
        for name, net in nets.items()
    }

    def evaluate(params, g_vars) -> dict[str, dict]:
        fake = {n: gen(params, g_vars, key, num_samples) for n, gen in generators.items()}
        return compute(metric_names, real, fake, split)

    return evaluate
