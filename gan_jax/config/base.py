"""The whole schema: `base_config` assembles every section with its defaults, `validate`
runs every section's check."""

import ml_collections

from gan_jax.config import augment, dataset, loop, loss, model, ops, optimizer, outputs

# Each section module checks its own fields, in this order (the first failure is reported).
SECTIONS = (loop, loss, dataset, augment, ops, model, optimizer, outputs)


def base_config() -> ml_collections.ConfigDict:
    """Every field with its default: DCGAN, Adam(2e-4, 0.5), non-saturating loss."""
    c = ml_collections.ConfigDict(loop.fields())
    c.dataset = dataset.section()
    c.model = model.section()
    c.ops = ops.section()
    c.optimizer = optimizer.section()
    c.loss = loss.section()
    c.regularizer = loss.regularizer()
    c.augment = augment.section()
    c.ema = optimizer.ema()
    c.schedule = optimizer.schedule()
    c.sample = outputs.sample()
    c.eval = outputs.evaluation()
    c.wandb = outputs.wandb()
    c.distributed = loop.distributed()
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` naming the first field that cannot work, before any work starts."""
    for section in SECTIONS:
        section.check(config)
