"""``sample``, ``eval`` and ``wandb``: what a run shows of itself besides its checkpoints.

sample.num_images    images in the sample grid
sample.standing_stats  batch used to recompute BatchNorm statistics of the EMA generator
eval.*               metrics, num_samples, split, batch_size, cache_dir, best_metric,
                     inception_weights: see `gan_jax.metrics.evaluator`
wandb.*              enabled, project, entity, name, mode ('online' | 'offline'), tags:
                     optional Weights & Biases logging, see `gan_jax.run.writers`
"""

import ml_collections

from gan_jax.errors import ConfigError


def sample() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(num_images=64, standing_stats=512))


def evaluation() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            metrics="",  # comma-separated, see gan_jax.metrics.evaluator.METRICS
            num_samples=10_000,  # generated images per evaluation
            split="test",  # reference split of the dataset
            batch_size=250,  # images per feature-extraction batch (global)
            cache_dir="",  # reference features cache ('' = $GAN_JAX_CACHE or ~/.cache/gan_jax)
            best_metric="",  # result that picks the 'best' checkpoint ('' = the first metric)
            inception_weights="",  # converted FID Inception .npz ('' = $GAN_JAX_INCEPTION)
        )
    )


def wandb() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            enabled=False,  # also log to Weights & Biases (needs `pip install wandb`)
            project="gan_jax",
            entity="",  # '' = wandb's default
            name="",  # run name ('' = the workdir's name)
            mode="online",  # 'online' | 'offline' (written under the workdir, `wandb sync` later)
            tags=(),
        )
    )


def _check_sample(sample: ml_collections.ConfigDict) -> None:
    if sample.num_images < 1:
        raise ConfigError(f"sample.num_images={sample.num_images} must be >= 1")
    if sample.standing_stats < 1:
        raise ConfigError(
            f"sample.standing_stats={sample.standing_stats} must be >= 1 "
            f"(BatchNorm statistics of the sampling generator come from that many "
            f"generated images)"
        )


def _check_eval(config: ml_collections.ConfigDict) -> None:
    from gan_jax.metrics import evaluator  # the metric registry; heavy imports only here

    metrics = evaluator.parse_metrics(config.eval.metrics, config.model.num_classes)
    if config.eval_every and not metrics:
        raise ConfigError(
            f"eval_every={config.eval_every} needs eval.metrics, e.g. "
            f"--config.eval.metrics=fd_fmnist (available: {', '.join(evaluator.METRICS)})"
        )
    if config.eval.best_metric:
        evaluator.higher_is_better(config.eval.best_metric)
    if config.eval.num_samples < 2 or config.eval.batch_size <= 0:
        raise ConfigError("eval.num_samples must be >= 2 and eval.batch_size positive")


def import_wandb():
    """The wandb module, or a `ConfigError` saying how to install it."""
    try:
        import wandb
    except ImportError:
        raise ConfigError("config.wandb.enabled=True needs the wandb package: pip install wandb") from None
    return wandb


def _check_wandb(wandb: ml_collections.ConfigDict) -> None:
    if wandb.mode not in ("online", "offline"):
        raise ConfigError(f"wandb.mode={wandb.mode!r} must be 'online' or 'offline'")
    if not all(isinstance(t, str) for t in wandb.tags):
        raise ConfigError(f"wandb.tags={wandb.tags!r} must be strings")
    if wandb.enabled:
        if not wandb.project:
            raise ConfigError("wandb.project must name a project when wandb.enabled=True")
        import_wandb()  # only when enabled


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for a sample, evaluation or wandb field that cannot work."""
    _check_sample(config.sample)
    _check_eval(config)
    _check_wandb(config.wandb)
