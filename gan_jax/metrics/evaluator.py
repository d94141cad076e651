"""The metrics a run can ask for, by name, and their computation from features.

Metric names say which feature network they use. On the domain classifier
(`gan_jax.metrics.classifier`): ``fd_fmnist`` (Fréchet distance), ``kd_fmnist``
(kernel distance, unbiased MMD²), ``pr_fmnist`` (improved precision and recall, k=3)
``dc_fmnist`` (density and coverage, k=5) and, for class-conditional generators,
``acc_fmnist`` (how often the classifier names the class a sample was generated for). On FID's Inception-v3 (weights converted
by `gan_jax.convert.inception`): ``fid``, ``kid``, ``is``, ``pr`` and ``dc``.

Every result carries a protocol label, ``<metric>_<n>gen_vs_<split><m>``, e.g.
``fd_fmnist_10kgen_vs_test10k``: numbers with different labels are not comparable.

Reference features are computed once per (dataset, split, resolution, channels,
feature network weights) and cached as ``.npz`` in ``eval.cache_dir``
(`gan_jax.run.evaluation`, which also makes a run's samples and evaluates them).
"""

import dataclasses
import hashlib
import json
import os
from typing import Callable

import ml_collections
import numpy as np

from gan_jax.errors import ConfigError
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
    if ds.get("aspect", "1:1") != "1:1":  # only when set, so the existing caches keep their names
        fields["aspect"] = ds.aspect
    if ds.get("classes"):  # a subset of the classes is another reference (set only then, so
        fields["classes"] = sorted(int(c) for c in ds.classes)  # the other keys stay as they were)
    key = json.dumps(fields | {"split": split}, sort_keys=True) + net.weights_id
    return os.path.join(
        cache_dir or default_cache_dir(),
        "reference",
        f"{ds.name}-{split}-{ds.resolution}px-{net.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz",
    )


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
