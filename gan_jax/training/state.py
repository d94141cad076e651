"""The training state: one pytree holding everything a GAN run evolves.

`GANState` carries both networks' parameters and non-parameter collections (BatchNorm
statistics, spectral-norm vectors, StyleGAN2's w̄ and noise images), both optax optimizer states, and the
exponential moving average (EMA) of the generator's parameters used for sampling, and
``aux``: the state each configured technique carries from step to step, one entry per
technique (ADA's p and tally, LeCam's anchors, path length's running mean, skipped steps;
`gan_jax.training.phases.init_aux`), so a checkpoint holds exactly what its config uses.
The optax transformations themselves are static functions built from the config by
`make_optimizer`; they are never stored in the state.
"""

from typing import Any, Callable, NamedTuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from gan_jax.config.dataset import image_shape
from gan_jax import parallel
from gan_jax.training import posthoc_ema, regularizers
from gan_jax.training import schedules

PyTree = Any


@flax.struct.dataclass
class GANState:
    step: jax.Array  # number of completed train steps (G updates)
    g_params: PyTree
    g_vars: PyTree  # non-param collections of G, e.g. {'batch_stats': ...}
    d_params: PyTree
    d_vars: PyTree
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    ema_params: PyTree  # EMA of g_params, what samples and metrics use
    aux: dict[str, dict[str, jax.Array]]  # per technique, only those configured


def make_optimizer(
    opt: ml_collections.ConfigDict, scale: float = 1.0, hyperparams: Callable[[jax.Array], dict] | None = None
) -> optax.GradientTransformationExtraArgs:
    """Adam (Kingma & Ba 2015), or AdamW when ``opt.weight_decay`` > 0, called as
    ``tx.update(grads, opt_state, params, step=t)``.

    ``scale`` c < 1 is lazy regularization's correction (`gan_jax.training.phases.optimizer_scale`):
    learning rate × c, β₁ → β₁ᶜ, β₂ → β₂ᶜ (Karras et al. 2020, appendix B).

    With ``opt.final_learning_rate`` or ``opt.final_b2`` set, the learning rate and β₂
    follow the run's schedule, ``hyperparams(t)`` (`gan_jax.training.schedules.scheduled_adam`);
    otherwise they are constant and the optimizer state is plain Adam's.

    ``weight_decay`` is decoupled decay (Loshchilov & Hutter 2019): optax applies
    ``-η·λ·w`` after Adam's normalised update, to kernels and embeddings only. The
    explicit L1/L2 penalties (``opt.l1``, ``opt.l2``) are loss terms instead; see
    `gan_jax.training.regularizers`. The DCGAN default is Adam(2e-4, β₁=0.5, β₂=0.999).
    """
    kwargs = dict(learning_rate=opt.learning_rate * scale, b1=opt.b1**scale, b2=opt.b2**scale, eps=opt.eps)
    if opt.weight_decay:
        kwargs.update(weight_decay=opt.weight_decay, mask=regularizers.decay_mask)
    make = optax.adamw if opt.weight_decay else optax.adam
    if hyperparams is not None and (opt.final_learning_rate is not None or opt.final_b2 is not None):
        tx = schedules.scheduled_adam(make, kwargs, scale, hyperparams)
    else:
        tx = make(**kwargs)
    if opt.grad_clip:
        return optax.chain(optax.clip_by_global_norm(opt.grad_clip), tx)
    return optax.with_extra_args_support(tx)


def optimizer_hyperparams(
    config: ml_collections.ConfigDict, opt: ml_collections.ConfigDict
) -> Callable[[jax.Array], dict]:
    """t ↦ {'learning_rate', 'b2'} of one network's optimizer on the run's schedule."""
    return lambda step: {
        "learning_rate": schedules.value(config, opt.learning_rate, opt.final_learning_rate, step),
        "b2": schedules.value(config, opt.b2, opt.final_b2, step),
    }


def ema_decay(config: ml_collections.ConfigDict, step: jax.Array) -> jax.Array:
    """The EMA decay at a step (``step`` = steps completed before this update).

    With ``ema.half_life_kimg`` h > 0 (StyleGAN2's form, Karras et al. 2020): the average
    halves its memory every h thousand images, β = 0.5^(B / (1000 h)) for global batch B;
    with ``ema.rampup`` r > 0 the half-life is min(h·1000, r·n) images, n = t·B the images
    seen *before* this step (NVlabs' ``cur_nimg``; β = 0 at the first step, so the average
    starts as a copy of G), and early averages forget the initialisation quickly. Otherwise β = ``ema.decay``, or
    min(β, (1+t)/(10+t)) with ``ema.warmup`` (as TensorFlow's ExponentialMovingAverage with
    ``num_updates``), which keeps short runs from averaging in the random initialisation
    for ~1/(1-β) steps.
    """
    ema = config.ema
    if ema.half_life_kimg or ema.final_half_life_kimg:
        batch = float(config.batch_size)
        half_life = jnp.asarray(
            schedules.value(config, ema.half_life_kimg, ema.final_half_life_kimg, step) * 1000.0, jnp.float32
        )
        if ema.rampup:
            seen = step.astype(jnp.float32) * batch
            half_life = jnp.minimum(half_life, seen * ema.rampup)
        return jnp.power(0.5, batch / jnp.maximum(half_life, 1e-8))
    decay = jnp.asarray(ema.decay, jnp.float32)
    if config.ema.warmup:
        t = step.astype(jnp.float32)
        decay = jnp.minimum(decay, (1.0 + t) / (10.0 + t))
    return decay


def update_ema(ema: PyTree, params: PyTree, decay: jax.Array) -> PyTree:
    """θ_ema ← β·θ_ema + (1-β)·θ, computed as ``torch.lerp(θ, θ_ema, β)`` computes it (NVlabs'
    and R3GAN's update): θ + β(θ_ema − θ) for β < ½, θ_ema − (1 − β)(θ_ema − θ) otherwise,
    exact at β = 0 and β = 1 and rounded as the references round."""

    def lerp(e, p):
        diff = e - p
        return jnp.where(jnp.abs(decay) < 0.5, p + decay * diff, e - diff * (1.0 - decay))

    return jax.tree.map(lerp, ema, params)


def split_variables(variables: PyTree) -> tuple[PyTree, dict]:
    """Flax variables → (params, {other collection: values})."""
    return variables["params"], {k: v for k, v in variables.items() if k != "params"}


class GeneratorState(NamedTuple):
    """The generator side of a `GANState`: what sampling, evaluating and exporting read."""

    step: jax.Array
    ema_params: PyTree
    g_vars: PyTree


def init_generator(
    config: ml_collections.ConfigDict, g_model: nn.Module, key: jax.Array
) -> tuple[PyTree, dict]:
    """(params, other collections) of G initialised from the state's init ``key``: the
    generator half of `init_state`."""
    g_key, _ = jax.random.split(key)
    z, labels = jnp.zeros((2, config.model.z_dim), jnp.float32), jnp.zeros((2,), jnp.int32)
    return split_variables(g_model.init(g_key, z, labels, train=False))


def init_generator_state(
    config: ml_collections.ConfigDict, g_model: nn.Module, key: jax.Array
) -> GeneratorState:
    """The untrained generator as `init_state` makes it (its EMA equals its weights)."""
    params, g_vars = init_generator(config, g_model, key)
    return GeneratorState(jnp.zeros((), jnp.int32), params, g_vars)


def init_state(
    config: ml_collections.ConfigDict,
    g_model: nn.Module,
    d_model: nn.Module,
    g_tx: optax.GradientTransformation,
    d_tx: optax.GradientTransformation,
    key: jax.Array,
    aux: dict,
) -> GANState:
    """Initialises both networks from ``key``: a pure function, traceable by jit/eval_shape.
    ``aux`` is the techniques' initial carried state (`gan_jax.training.phases.init_aux`)."""
    _, d_key = jax.random.split(key)
    (h, w), ch = image_shape(config.dataset), config.dataset.channels
    labels = jnp.zeros((2,), jnp.int32)
    g_params, g_vars = init_generator(config, g_model, key)
    d_variables = d_model.init(d_key, jnp.zeros((2, h, w, ch), jnp.float32), labels, train=False)
    d_params, d_vars = split_variables(d_variables)
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        g_vars=g_vars,
        d_params=d_params,
        d_vars=d_vars,
        g_opt_state=g_tx.init(g_params),
        d_opt_state=d_tx.init(d_params),
        ema_params=jax.tree.map(jnp.copy, g_params),
        aux=_with_posthoc(config, aux, g_params),
    )


def _with_posthoc(config: ml_collections.ConfigDict, aux: dict, g_params: PyTree) -> dict:
    """``aux`` with the post-hoc averages (`gan_jax.training.posthoc_ema`) when configured."""
    if not config.ema.posthoc.enabled:
        return aux
    return {**aux, "posthoc_ema": posthoc_ema.init(g_params, tuple(config.ema.posthoc.sigma_rels))}


def abstract_state(config, g_model, d_model, g_tx, d_tx, mesh: Mesh, key: jax.Array, aux: dict) -> GANState:
    """The state's shapes and dtypes, each carrying its (replicated) sharding on ``mesh``."""
    shapes = jax.eval_shape(lambda k, a: init_state(config, g_model, d_model, g_tx, d_tx, k, a), key, aux)
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=parallel.replicated(mesh)), shapes
    )


def create_state(config, g_model, d_model, g_tx, d_tx, mesh: Mesh, key: jax.Array, aux: dict) -> GANState:
    """Initialises the state directly into replicated device memory on ``mesh``.

    Initialisation runs under `jax.jit` with replicated output shardings, so on a
    multi-host run every process computes the same parameters from the same key
    without any host-to-device broadcast.
    """
    init = lambda k, a: init_state(config, g_model, d_model, g_tx, d_tx, k, a)  # noqa: E731
    return jax.jit(init, out_shardings=parallel.replicated(mesh))(key, aux)


def count_params(params: PyTree) -> int:
    return sum(x.size for x in jax.tree.leaves(params))
