"""The config schema: every field a config has, its default, and its check.

Experiment files in ``configs/`` start from `base_config()` and change what they need;
`validate` turns an impossible combination into one `ConfigError` line before any work
starts. Each section lives in its own module, with its defaults, the reference of its fields
and its check:

=================  ===========================================================
`loop`             the top-level fields (seed, batch_size, num_steps, n_critic, phase_order,
                   logging, checkpoints, micro-batches, fine-tuning) and ``distributed``
`dataset`          ``dataset``: which images, how they reach the step
`model`            ``model``: the common fields and one section per architecture
`ops`              ``ops``: how backend-specific operations compute (never a run's identity)
`optimizer`        ``optimizer.{g,d}``, ``schedule``, ``ema``
`loss`             ``loss``, ``regularizer``
`augment`          ``augment``
`outputs`          ``sample``, ``eval``, ``wandb``
`saved`            config.json: written, read back (`upgrade` of an older schema), compared
                   at resume
`presets`          the references' recipes applied to a config
=================  ===========================================================
"""

from gan_jax.config.base import SECTIONS as SECTIONS
from gan_jax.config.base import base_config as base_config
from gan_jax.config.base import validate as validate
from gan_jax.config.loop import real_batches_per_step as real_batches_per_step
from gan_jax.config.model import ARCHITECTURE_FIELDS as ARCHITECTURE_FIELDS
from gan_jax.config.model import ARCHITECTURES as ARCHITECTURES
from gan_jax.config.model import architecture_section as architecture_section
from gan_jax.config.ops import FIELDS as OPS_FIELDS  # noqa: F401 (the public name)
from gan_jax.config.saved import field_names as field_names
from gan_jax.config.saved import from_dict as from_dict
from gan_jax.config.saved import resume_differences as resume_differences
from gan_jax.config.saved import to_json as to_json
from gan_jax.config.saved import upgrade as upgrade
