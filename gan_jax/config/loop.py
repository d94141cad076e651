"""The run's own fields (the top level of a config) and ``distributed``: how many steps of
what size, in which order the phases run, when the run logs, samples, evaluates and saves.

seed                 int: initialisation, noise and data order all derive from it
batch_size           int: global batch (over all devices and processes)
num_steps            int: train steps; one step = ``n_critic`` D updates + 1 G update
n_critic             int: D updates per G update (each on its own real batch)
phase_order          'd_first' (D main, D reg, G main, G reg: Goodfellow et al. 2014, Algorithm 1;
                     DCGAN, SNGAN, BigGAN and R3GAN's loop) | 'g_first' (G main, G reg, D main,
                     D reg: NVlabs' StyleGAN2-ADA loop, whose G step sees D before the step's D
                     update); see `gan_jax.training.phases.build_phases`
log_every            int: progress line, metrics.jsonl and TensorBoard scalars
sample_every         int: PNG grid of EMA samples from a fixed noise batch (0: only at the end)
checkpoint_every     int: orbax checkpoint (one is always written at the end)
keep_checkpoints     int: how many recent checkpoints to keep
eval_every           int: compute eval.metrics every N steps and at the end (0: off)
nonfinite            'stop' (default): a NaN/Inf loss or gradient stops the run, naming the
                     step and the quantity; 'skip': such steps leave the state unchanged
                     and are counted (``skipped_steps`` in metrics.jsonl)
lazy_dispatch        how lazy phases are scheduled: 'variants' (default: a compiled step per
                     pattern of due phases, picked by the host) or 'cond' (one program,
                     `jax.lax.cond` inside); same results to rounding, see docs/training_step.md
resume_changes       True: resume although the seed, the data or the model differ from config.json
microbatches         int M: gradient accumulation, M sequential micro-batches of batch_size / M
                     per update (docs/fine_tuning.md says what BatchNorm statistics then are)
microbatches_as      'big_batch' (the mean of the M gradients, running averages moved once by
                     the batch's statistics: the big batch's update) | 'rounds' (NVlabs' rounds
                     of batch_gpu images: gradients summed, running averages chained through
                     the rounds), see `gan_jax.training.accumulate`
init_from            fine-tuning: start step 0 from the G, D and EMA of a workdir, checkpoint
                     folder or converted model (init_optimizer: its Adam states too);
                     freeze_d: the first N D blocks from the image stay fixed (Mo et al. 2020)
distributed.*        enabled (None: auto), coordinator_address, num_processes, process_id:
                     see docs/multihost.md
"""

import ml_collections
from ml_collections import config_dict

from gan_jax.errors import ConfigError

PHASE_ORDERS = ("d_first", "g_first")
_POSITIVE = (
    "batch_size",
    "num_steps",
    "n_critic",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "microbatches",
)
_NON_NEGATIVE = ("sample_every", "eval_every", "freeze_d", "seed")


def fields() -> dict:
    """The top-level fields with their defaults."""
    return dict(
        seed=0,
        batch_size=64,
        num_steps=10_000,
        n_critic=1,
        phase_order="d_first",  # 'd_first': D, D reg, G, G reg | 'g_first': G, G reg, D, D reg (NVlabs)
        log_every=100,
        sample_every=1000,
        checkpoint_every=1000,
        keep_checkpoints=3,
        eval_every=0,
        nonfinite="stop",
        lazy_dispatch="variants",  # lazy phases: 'variants' (one program per due pattern) | 'cond'
        resume_changes=False,  # True: resume even though seed, dataset or model differ from config.json
        microbatches=1,  # M > 1: each update accumulates gradients over M sequential slices of the batch
        microbatches_as="big_batch",  # M slices as the 'big_batch' (mean, one update) | NVlabs' 'rounds'
        init_from="",  # fine-tuning: a workdir, checkpoint folder or converted model to start from
        init_optimizer=False,  # init_from: also take both optimizers' states (default: fresh Adam)
        freeze_d=0,  # fine-tuning: the first N discriminator blocks (from the image) stay frozen
    )


def distributed() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            enabled=config_dict.placeholder(bool),
            coordinator_address=config_dict.placeholder(str),
            num_processes=config_dict.placeholder(int),
            process_id=config_dict.placeholder(int),
        )
    )


def _choice(config, name: str, choices: tuple) -> None:
    if config[name] not in choices:
        raise ConfigError(f"{name}={config[name]!r} must be one of {', '.join(choices)}")


BATCHNORM_ARCHITECTURES = ("dcgan", "sngan", "biggan")


def _check_batchnorm_microbatch(config: ml_collections.ConfigDict) -> None:
    """BatchNorm normalises over a micro-batch: over one image, every activation of a
    linear layer's output equals its mean, so the layer's output is its bias."""
    per_micro = config.batch_size // config.microbatches
    architecture = config.model.architecture
    if config.microbatches > 1 and per_micro < 2 and architecture in BATCHNORM_ARCHITECTURES:
        raise ConfigError(
            f"microbatches={config.microbatches} with batch_size={config.batch_size} leaves one image "
            f"per micro-batch, and the BatchNorm layers of {architecture} would normalise each "
            f"activation over that image alone (every output its bias): use microbatches <= "
            f"{max(1, config.batch_size // 2)}"
        )


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for a top-level field that cannot work."""
    for name in _POSITIVE:
        if config[name] <= 0:
            raise ConfigError(f"config.{name}={config[name]} must be positive")
    for name in _NON_NEGATIVE:
        if config[name] < 0:
            raise ConfigError(f"config.{name}={config[name]} must be >= 0")
    if config.batch_size % config.microbatches:
        raise ConfigError(f"microbatches={config.microbatches} must divide batch_size={config.batch_size}")
    _check_batchnorm_microbatch(config)
    _choice(config, "lazy_dispatch", ("variants", "cond"))
    _choice(config, "nonfinite", ("stop", "skip"))
    _choice(config, "phase_order", PHASE_ORDERS)
    _choice(config, "microbatches_as", ("big_batch", "rounds"))


def real_batches_per_step(config: ml_collections.ConfigDict) -> int:
    """Real batches one train step reads: one per D update, and one more for G's phase
    when it has its own (``loss.g_real_batch='own'``)."""
    return config.n_critic + (config.loss.g_real_batch == "own")
