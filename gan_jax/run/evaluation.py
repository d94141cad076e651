"""Evaluating a run's EMA generator: its samples → features → the metrics of
`gan_jax.metrics.evaluator`, against the cached features of a dataset split."""

import os
from typing import Callable

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from gan_jax import parallel
from gan_jax.data import sources as datasets
from gan_jax.errors import ConfigError
from gan_jax.metrics import features as features_lib
from gan_jax.metrics.evaluator import (
    Samples,
    compute,
    default_cache_dir,
    feature_nets,
    parse_metrics,
    reference_cache_path,
)
from gan_jax.training import sample
from gan_jax.training.keys import sample_labels, sample_noise


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
        try:
            with np.load(path, allow_pickle=False) as f:
                return f["features"]
        except Exception as e:  # noqa: BLE001 (a damaged cache file: computed again and replaced)
            logging.warning(
                "the cached reference features %s are unreadable (%s); computing them again", path, e
            )
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
    gen,
    metric_names: list[str] | None = None,
    num_samples: int | None = None,
    split: str | None = None,
) -> Callable[[object, dict], dict[str, dict]]:
    """``(ema_params, g_vars) -> results`` for ``config.eval`` (arguments override it), with
    the samples of ``gen``'s sampler on its mesh, from its ``eval`` key stream
    (`gan_jax.training.build.Generator`, or a whole `build.Run`).

    Builds the feature networks and loads (or computes and caches) the reference
    features once; each call then only generates and extracts.
    """
    if metric_names is None:
        metric_names = parse_metrics(config.eval.metrics, config.model.num_classes)
    num_samples = num_samples or config.eval.num_samples
    split = split or config.eval.split
    key, mesh, sampler = gen.keys["eval"], gen.mesh, gen.sampler()
    nets = feature_nets(config, metric_names)
    real = reference_sets(config, nets, split, mesh)
    features = {
        name: make_generated_features(
            sampler, config.model.z_dim, config.model.num_classes, net, mesh, config.eval.batch_size
        )
        for name, net in nets.items()
    }

    def evaluate(params, g_vars) -> dict[str, dict]:
        fake = {n: of(params, g_vars, key, num_samples) for n, of in features.items()}
        return compute(metric_names, real, fake, split)

    return evaluate
