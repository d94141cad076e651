"""Validation of a config: `validate` turns an impossible combination of the fields of
`gan_jax.config.base_config` into one `ConfigError` line before any work starts."""

import math

import ml_collections

from gan_jax import augment
from gan_jax.training import losses
from gan_jax.training import schedules
from gan_jax.errors import ConfigError
from gan_jax.ops import conv4x4

_POSITIVE = (
    "batch_size",
    "num_steps",
    "n_critic",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "microbatches",
)
_NON_NEGATIVE = ("sample_every", "eval_every", "freeze_d")
PHASE_ORDERS = ("d_first", "g_first")


def _check_loop(config: ml_collections.ConfigDict) -> None:
    """The fields that say how a step runs its phases and what they read."""
    if config.phase_order not in PHASE_ORDERS:
        raise ConfigError(f"phase_order={config.phase_order!r} must be one of {', '.join(PHASE_ORDERS)}")
    if config.loss.g_real_batch not in ("shared", "own"):
        raise ConfigError(f"loss.g_real_batch={config.loss.g_real_batch!r} must be 'shared' or 'own'")
    if config.loss.g_real_batch == "own" and config.loss.g_loss not in losses.PAIRED_G_LOSSES:
        raise ConfigError(
            f"loss.g_real_batch='own' reads a real batch for G's phase, but loss.g_loss="
            f"{config.loss.g_loss!r} reads no real images; use 'shared' or a loss among "
            f"{sorted(losses.PAIRED_G_LOSSES)}"
        )
    if config.microbatches_as not in ("big_batch", "rounds"):
        raise ConfigError(f"microbatches_as={config.microbatches_as!r} must be 'big_batch' or 'rounds'")
    w_avg_update = config.model.stylegan2.w_avg_update
    if w_avg_update not in ("every_pass", "g_main"):
        raise ConfigError(f"model.stylegan2.w_avg_update={w_avg_update!r} must be 'every_pass' or 'g_main'")


def _check_ops(ops: ml_collections.ConfigDict) -> None:
    if ops.conv_transpose not in ("auto", *conv4x4.TRANSPOSE_FORMS):
        raise ConfigError(
            f"ops.conv_transpose={ops.conv_transpose!r} must be one of {', '.join(('auto', *conv4x4.TRANSPOSE_FORMS))}"
        )
    if ops.conv_batch_slices < 0:
        raise ConfigError(f"ops.conv_batch_slices={ops.conv_batch_slices} must be >= 0 (0: by layer size)")
    if ops.conv_weight_grad not in conv4x4.WEIGHT_GRADS:
        raise ConfigError(
            f"ops.conv_weight_grad={ops.conv_weight_grad!r} must be one of {', '.join(conv4x4.WEIGHT_GRADS)}"
        )
    if ops.fused_modconv not in ("auto", "fused", "nonfused"):
        raise ConfigError(f"ops.fused_modconv={ops.fused_modconv!r} must be one of auto, fused, nonfused")


def _check_model(model: ml_collections.ConfigDict) -> None:
    """The common fields and the built architecture's section."""
    if model.architecture not in model:
        raise ConfigError(
            f"unknown model.architecture {model.architecture!r}; choose one of "
            f"dcgan, sngan, biggan, stylegan2, r3gan"
        )
    if model.num_classes < 0:
        raise ConfigError(f"model.num_classes={model.num_classes} must be >= 0")
    if model.z_dim < 1:
        raise ConfigError(f"model.z_dim={model.z_dim} must be >= 1")
    section = model[model.architecture]
    for field in ("g_width", "d_width"):
        if field in section and section[field] < 1:
            raise ConfigError(f"model.{model.architecture}.{field}={section[field]} must be >= 1")
    if model.architecture == "stylegan2" and section.d_architecture not in ("resnet", "orig"):
        raise ConfigError(
            f"model.stylegan2.d_architecture={section.d_architecture!r} must be 'resnet' or 'orig'"
        )


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` naming the first field that cannot work."""
    for name in _POSITIVE:
        if config[name] <= 0:
            raise ConfigError(f"config.{name}={config[name]} must be positive")
    for name in _NON_NEGATIVE:
        if config[name] < 0:
            raise ConfigError(f"config.{name}={config[name]} must be >= 0")
    if config.batch_size % config.microbatches:
        raise ConfigError(f"microbatches={config.microbatches} must divide batch_size={config.batch_size}")
    if config.lazy_dispatch not in ("variants", "cond"):
        raise ConfigError(f"lazy_dispatch={config.lazy_dispatch!r} must be 'variants' or 'cond'")
    if config.schedule.shape not in schedules.SHAPES:
        raise ConfigError(f"schedule.shape={config.schedule.shape!r} must be one of {schedules.SHAPES}")
    if config.schedule.kimg < 0:
        raise ConfigError(f"schedule.kimg={config.schedule.kimg} must be >= 0 (0: the whole run)")
    if config.nonfinite not in ("stop", "skip"):
        raise ConfigError(f"nonfinite={config.nonfinite!r} must be 'stop' or 'skip'")
    if config.loss.d_loss not in losses.D_LOSSES:
        raise ConfigError(f"loss.d_loss={config.loss.d_loss!r} is not one of {sorted(losses.D_LOSSES)}")
    if config.loss.fake_labels not in ("sampled", "real"):
        raise ConfigError(f"loss.fake_labels={config.loss.fake_labels!r} must be 'sampled' or 'real'")
    if config.loss.g_loss not in losses.G_LOSSES:
        raise ConfigError(f"loss.g_loss={config.loss.g_loss!r} is not one of {sorted(losses.G_LOSSES)}")
    _check_loop(config)
    ds = config.dataset
    if ds.channels not in (1, 3):
        raise ConfigError(f"dataset.channels={ds.channels} must be 1 or 3")
    if ds.bad_images not in ("fail", "skip"):
        raise ConfigError(f"dataset.bad_images={ds.bad_images!r} must be 'fail' or 'skip'")
    if ds.resize not in ("pad", "resize"):
        raise ConfigError(f"dataset.resize={ds.resize!r} must be 'pad' or 'resize'")
    if ds.workers < 0:
        raise ConfigError(f"dataset.workers={ds.workers} must be >= 0 (0: read in the prefetch thread)")
    reg = config.regularizer
    if min(reg.r1_gamma, reg.r2_gamma, reg.gp_lambda, reg.pl_weight) < 0:
        raise ConfigError("regularizer.r1_gamma, r2_gamma, gp_lambda and pl_weight must be >= 0")
    if min(reg.r1_every, reg.r2_every, reg.pl_every, reg.pl_batch_shrink) < 1:
        raise ConfigError("regularizer.r1_every, r2_every, pl_every and pl_batch_shrink must be >= 1")
    if reg.pl_weight and config.model.architecture not in ("stylegan2",):
        raise ConfigError(
            f"regularizer.pl_weight needs a generator with a mapping and a synthesis "
            f"network (model.architecture='stylegan2'), not {config.model.architecture!r}"
        )
    if not 0.0 <= reg.pl_decay <= 1.0:
        raise ConfigError(f"regularizer.pl_decay={reg.pl_decay} must be in [0, 1]")
    if reg.lecam_lambda < 0 or not 0.0 <= reg.lecam_decay < 1.0:
        raise ConfigError("regularizer.lecam_lambda must be >= 0 and lecam_decay in [0, 1)")
    aug = config.augment
    if aug.kind not in augment.KINDS:
        raise ConfigError(f"augment.kind={aug.kind!r} must be one of {augment.KINDS}")
    unknown = set(op for op in aug.policy.split(",") if op) - set(augment.DIFFAUGMENT_OPS)
    if unknown:
        raise ConfigError(
            f"augment.policy has unknown ops {sorted(unknown)}; "
            f"choose from {','.join(augment.DIFFAUGMENT_OPS)}"
        )
    if aug.ada_pipeline not in augment.ADA_PIPELINES:
        raise ConfigError(
            f"augment.ada_pipeline={aug.ada_pipeline!r} must be one of {', '.join(augment.ADA_PIPELINES)}"
        )
    if not 0.0 <= aug.ada_p <= 1.0 or aug.ada_interval < 1 or aug.ada_kimg <= 0:
        raise ConfigError("augment.ada_p must be in [0, 1], ada_interval >= 1, ada_kimg > 0")
    _check_ops(config.ops)
    _check_model(config.model)
    if config.seed < 0:
        raise ConfigError(f"seed={config.seed} must be >= 0")
    if ds.max_examples < 0:
        raise ConfigError(f"dataset.max_examples={ds.max_examples} must be >= 0 (0: every example)")
    if config.sample.num_images < 1:
        raise ConfigError(f"sample.num_images={config.sample.num_images} must be >= 1")
    if config.sample.standing_stats < 1:
        raise ConfigError(
            f"sample.standing_stats={config.sample.standing_stats} must be >= 1 "
            f"(BatchNorm statistics of the sampling generator come from that many "
            f"generated images)"
        )
    if config.model.dtype not in ("float32", "bfloat16", "float16"):
        raise ConfigError(f"model.dtype={config.model.dtype!r} must be float32, bfloat16 or float16")
    if config.model.dtype == "float16":
        raise ConfigError(
            "model.dtype='float16' is refused: gan_jax has no loss scaling, so "
            "float16's small gradients would underflow to zero; use 'bfloat16' "
            "(float32's range, no scaling needed)"
        )
    arch = config.model.architecture
    if config.model.dtype != "float32" and arch not in ("dcgan", "sngan", "biggan"):
        hint = (
            f"set model.{arch}.num_bf16_res instead (bfloat16 at the highest resolutions)"
            if arch in ("stylegan2", "r3gan")
            else "it computes in float32"
        )
        raise ConfigError(
            f"model.dtype={config.model.dtype!r} is only used by the DCGAN, SNGAN and "
            f"BigGAN; model.architecture={arch!r} would ignore it: {hint}"
        )
    if not 0.0 <= config.ema.decay < 1.0:
        raise ConfigError(f"ema.decay={config.ema.decay} must be in [0, 1)")
    if config.ema.half_life_kimg < 0 or config.ema.rampup < 0:
        raise ConfigError("ema.half_life_kimg and ema.rampup must be >= 0")
    for side in ("g", "d"):
        opt = config.optimizer[side]
        for field in (
            "learning_rate",
            "b1",
            "b2",
            "eps",
            "weight_decay",
            "l1",
            "l2",
            "grad_clip",
            "final_learning_rate",
            "final_b2",
        ):
            if opt[field] is not None and not math.isfinite(opt[field]):
                raise ConfigError(f"optimizer.{side}.{field}={opt[field]} must be a finite number")
        for field in ("learning_rate", "weight_decay", "l1", "l2", "grad_clip"):
            if opt[field] < 0:
                raise ConfigError(f"optimizer.{side}.{field}={opt[field]} must be >= 0")
        for field in ("b1", "b2"):
            if not 0.0 <= opt[field] < 1.0:
                raise ConfigError(
                    f"optimizer.{side}.{field}={opt[field]} must be in [0, 1) (Adam's moment decay)"
                )
        if opt.eps <= 0:
            raise ConfigError(f"optimizer.{side}.eps={opt.eps} must be > 0")
        if opt.final_learning_rate is not None and opt.final_learning_rate < 0:
            raise ConfigError(f"optimizer.{side}.final_learning_rate={opt.final_learning_rate} must be >= 0")
        if opt.final_b2 is not None and not 0.0 <= opt.final_b2 < 1.0:
            raise ConfigError(f"optimizer.{side}.final_b2={opt.final_b2} must be in [0, 1)")
    for name, final in (
        ("regularizer.final_r1_gamma", reg.final_r1_gamma),
        ("regularizer.final_r2_gamma", reg.final_r2_gamma),
        ("ema.final_half_life_kimg", config.ema.final_half_life_kimg),
    ):
        if final is not None and final < 0:
            raise ConfigError(f"{name}={final} must be >= 0")
    if aug.final_ada_p is not None:
        if not 0.0 <= aug.final_ada_p <= 1.0:
            raise ConfigError(f"augment.final_ada_p={aug.final_ada_p} must be in [0, 1]")
        if aug.ada_target:
            raise ConfigError(
                "augment.final_ada_p schedules a fixed p: set augment.ada_target=0 "
                "(ADA's adaptive p and a scheduled p exclude each other)"
            )
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
    if config.wandb.mode not in ("online", "offline"):
        raise ConfigError(f"wandb.mode={config.wandb.mode!r} must be 'online' or 'offline'")
    if not all(isinstance(t, str) for t in config.wandb.tags):
        raise ConfigError(f"wandb.tags={config.wandb.tags!r} must be strings")
    if config.wandb.enabled:
        if not config.wandb.project:
            raise ConfigError("wandb.project must name a project when wandb.enabled=True")
        from gan_jax.run import wandb_writer  # imports wandb, only when enabled

        wandb_writer.import_wandb()
