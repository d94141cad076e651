"""The training state: one pytree holding everything a GAN run evolves.

`GANState` carries both networks' parameters and non-parameter collections (BatchNorm
statistics now; spectral-norm vectors later), both optax optimizer states, and the
exponential moving average (EMA) of the generator's parameters used for sampling, and
the training-time scalars some techniques evolve (`init_scalars`).
The optax transformations themselves are static functions built from the config by
`make_optimizer`; they are never stored in the state.
"""

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from gan_jax import parallel, regularizers

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
    scalars: dict[str, jax.Array]  # see init_scalars


def init_scalars(config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
    """Scalars the step carries from one update to the next, float32, all always present:

    ada_p                ADA's augmentation probability (`gan_jax.augment.ada_adjust`)
    ada_sign_sum, ada_count  Σ sign(D(real)) and the number of real images since p last moved
    lecam_real, lecam_fake   EMAs of D's mean score on real / generated images (LeCam anchors)
    skipped_steps        steps discarded for a non-finite loss or gradient (``nonfinite='skip'``)

    Keeping the same keys for every config keeps the checkpoint layout one shape.
    """
    f = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
    return {"ada_p": f(config.augment.ada_p if config.augment.kind == "ada" else 0.0),
            "ada_sign_sum": f(0.0), "ada_count": f(0.0), "lecam_real": f(0.0), "lecam_fake": f(0.0),
            "skipped_steps": f(0.0)}


def make_optimizer(opt: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam (Kingma & Ba 2015), or AdamW when ``opt.weight_decay`` > 0.

    ``weight_decay`` is decoupled decay (Loshchilov & Hutter 2019): optax applies
    ``-η·λ·w`` after Adam's normalised update, to kernels and embeddings only. The
    explicit L1/L2 penalties (``opt.l1``, ``opt.l2``) are loss terms instead; see
    `gan_jax.regularizers`. The DCGAN default is Adam(2e-4, β₁=0.5, β₂=0.999).
    """
    if opt.weight_decay:
        tx = optax.adamw(opt.learning_rate, b1=opt.b1, b2=opt.b2, eps=opt.eps,
                         weight_decay=opt.weight_decay, mask=regularizers.decay_mask)
    else:
        tx = optax.adam(opt.learning_rate, b1=opt.b1, b2=opt.b2, eps=opt.eps)
    if opt.grad_clip:
        tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip), tx)
    return tx


def ema_decay(config: ml_collections.ConfigDict, step: jax.Array) -> jax.Array:
    """The EMA decay at a step: β, or min(β, (1+t)/(10+t)) with warm-up.

    The warm-up (as in TensorFlow's ExponentialMovingAverage with ``num_updates``)
    keeps short runs from averaging in the random initialisation for ~1/(1-β) steps.
    """
    decay = jnp.asarray(config.ema.decay, jnp.float32)
    if config.ema.warmup:
        t = step.astype(jnp.float32)
        decay = jnp.minimum(decay, (1.0 + t) / (10.0 + t))
    return decay


def update_ema(ema: PyTree, params: PyTree, decay: jax.Array) -> PyTree:
    """θ_ema ← β·θ_ema + (1-β)·θ."""
    return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


def split_variables(variables: PyTree) -> tuple[PyTree, dict]:
    """Flax variables → (params, {other collection: values})."""
    return variables["params"], {k: v for k, v in variables.items() if k != "params"}


def init_state(config: ml_collections.ConfigDict, g_model: nn.Module, d_model: nn.Module,
               g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
               key: jax.Array) -> GANState:
    """Initialises both networks from ``key``: a pure function, traceable by jit/eval_shape."""
    g_key, d_key = jax.random.split(key)
    res, ch = config.dataset.resolution, config.dataset.channels
    labels = jnp.zeros((2,), jnp.int32)
    g_variables = g_model.init(g_key, jnp.zeros((2, config.model.z_dim), jnp.float32), labels, train=False)
    d_variables = d_model.init(d_key, jnp.zeros((2, res, res, ch), jnp.float32), labels, train=False)
    g_params, g_vars = split_variables(g_variables)
    d_params, d_vars = split_variables(d_variables)
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params, g_vars=g_vars,
        d_params=d_params, d_vars=d_vars,
        g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params),
        ema_params=jax.tree.map(jnp.copy, g_params),
        scalars=init_scalars(config),
    )


def abstract_state(config, g_model, d_model, g_tx, d_tx, mesh: Mesh, key: jax.Array) -> GANState:
    """The state's shapes and dtypes, each carrying its (replicated) sharding on ``mesh``."""
    shapes = jax.eval_shape(lambda k: init_state(config, g_model, d_model, g_tx, d_tx, k), key)
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=parallel.replicated(mesh)), shapes)


def create_state(config, g_model, d_model, g_tx, d_tx, mesh: Mesh, key: jax.Array) -> GANState:
    """Initialises the state directly into replicated device memory on ``mesh``.

    Initialisation runs under `jax.jit` with replicated output shardings, so on a
    multi-host run every process computes the same parameters from the same key
    without any host-to-device broadcast.
    """
    init = lambda k: init_state(config, g_model, d_model, g_tx, d_tx, k)  # noqa: E731
    return jax.jit(init, out_shardings=parallel.replicated(mesh))(key)


def count_params(params: PyTree) -> int:
    return sum(x.size for x in jax.tree.leaves(params))
