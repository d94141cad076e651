"""Schedules: hyperparameters that move from a start value to a final value during training.

A scheduled quantity has a start value (the config field that also sets it when nothing is
scheduled, e.g. ``optimizer.g.learning_rate``) and a final value (its ``final_*`` field;
None keeps it constant). Every scheduled quantity of a run follows one shape over one
duration, ``config.schedule``:

    n = t · B                                   images seen after t steps of global batch B
    x = min(n / N, 1)                           progress; N = schedule.kimg · 1000, or the
                                                whole run (num_steps · B) when kimg = 0
    v(t) = v_final + (v_start − v_final) · w(x)
    cosine: w(x) = ½ (1 + cos πx)               (Loshchilov & Hutter 2017, "SGDR"; R3GAN's
                                                schedules, Huang et al. 2024, §4)
    linear: w(x) = 1 − x

After N images the value stays at v_final. R3GAN schedules its learning rate, Adam's β₂,
the R1/R2 weight γ, the EMA length and the augmentation probability this way, all over one
``decay_nimg``.

What can be scheduled (start field → final field):

    optimizer.{g,d}.learning_rate → final_learning_rate     (`scheduled_adam`)
    optimizer.{g,d}.b2            → final_b2
    regularizer.r1_gamma          → final_r1_gamma           (`gan_jax.training.terms`)
    regularizer.r2_gamma          → final_r2_gamma
    ema.half_life_kimg            → final_half_life_kimg     (`gan_jax.training.state.ema_decay`)
    augment.ada_p                 → final_ada_p              (fixed p, ada_target = 0)

Values are functions of the step number alone, so a resumed run follows the same
schedule bit for bit.
"""

import math
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

SHAPES = ("cosine", "linear")


def progress(config: ml_collections.ConfigDict, step: jax.Array) -> jax.Array:
    """x = min(t·B / N, 1) at step t (float32)."""
    batch = float(config.batch_size)
    total = config.schedule.kimg * 1000.0 or config.num_steps * batch
    return jnp.minimum(jnp.asarray(step, jnp.float32) * batch / total, 1.0)


def weight(shape: str, x: jax.Array) -> jax.Array:
    """w(x): 1 at the start, 0 at the end."""
    if shape == "cosine":
        return 0.5 * (1.0 + jnp.cos(math.pi * x))
    if shape == "linear":
        return 1.0 - x
    raise ValueError(f"unknown schedule shape {shape!r}")


def value(
    config: ml_collections.ConfigDict, start: float, final: float | None, step: jax.Array
) -> jax.Array | float:
    """v(t) of a quantity with ``start`` and ``final`` values; ``start`` itself when ``final``
    is None (the quantity is not scheduled)."""
    if final is None:
        return start
    w = weight(config.schedule.shape, progress(config, step))
    return final + (start - final) * w


# ----------------------------------------------------------------------------
# Adam with scheduled hyperparameters


def scheduled_adam(
    make: Callable[..., optax.GradientTransformation],
    kwargs: dict,
    scale: float,
    hyperparams: Callable[[jax.Array], dict[str, jax.Array]],
) -> optax.GradientTransformationExtraArgs:
    """``make(**kwargs)`` (optax.adam or adamw) whose learning rate and β₂ are set from the
    training step before every update: ``update(grads, state, params, step=t)``.

    ``hyperparams(t)`` gives {'learning_rate', 'b2'} before the lazy-regularization scale c
    (`gan_jax.training.phases.optimizer_scale`), applied here: learning rate × c, β₂ → β₂ᶜ. The
    current values live in the optimizer state (optax.inject_hyperparams), so they are
    checkpointed with it.
    """
    static = ("mask",) if "mask" in kwargs else ()
    tx = optax.inject_hyperparams(make, static_args=static)(**kwargs)

    def update(updates, state, params=None, *, step=None, **extra):
        if step is not None:
            h = hyperparams(step)
            hp = dict(state.hyperparams)
            hp["learning_rate"] = jnp.asarray(h["learning_rate"] * scale, jnp.float32)
            hp["b2"] = jnp.asarray(h["b2"], jnp.float32) ** scale
            state = state._replace(hyperparams=hp)
        return tx.update(updates, state, params)

    return optax.GradientTransformationExtraArgs(tx.init, update)


def current_hyperparams(opt_state) -> dict[str, jax.Array]:
    """The learning rate and β₂ a scheduled optimizer used at its last update ({} when its
    hyperparameters are fixed)."""
    found: dict[str, jax.Array] = {}

    def injected(s) -> bool:  # optax.inject_hyperparams' state, whatever its class is named
        return isinstance(s, tuple) and isinstance(getattr(s, "hyperparams", None), dict)

    def visit(s):
        if injected(s):
            found.update({k: s.hyperparams[k] for k in ("learning_rate", "b2")})
        return s

    jax.tree.map(visit, opt_state, is_leaf=injected)
    return found
