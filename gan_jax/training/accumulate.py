"""Gradient accumulation: one optimizer step from M sequential micro-batches.

With ``config.microbatches`` = M, a phase's batch of B images is cut into M micro-batches
of B/M, taken strided (micro-batch m holds rows m, m + M, m + 2M, ...), so that each one
keeps an equal share of every device's rows and no data moves between devices. They run
one after another under `jax.lax.scan`, so activations are held for B/M images at a time,
and the phase then takes one optimizer step on

    g = (1/M) Σ_m ∇_θ L(θ; micro-batch m),

which for a loss that is a mean over the batch is exactly ∇_θ L(θ; batch) when no layer
mixes images within a batch: the update of the single big batch, to float rounding.

``config.microbatches_as='rounds'`` takes the micro-batches as NVlabs' loop takes its rounds
of ``batch_gpu`` images instead (the StyleGAN2 presets, `gan_jax.config.presets.nvlabs_loop`):
the step's gradient is the sum M·g of the rounds' mean gradients (Adam's update is the
same but for its ε, which then weighs M times less), and each round reads the carried
state the round before it left (path length's running mean moves once per round, as
NVlabs' ``pl_mean`` buffer does).

What differs from the big batch (docs/fine_tuning.md, "Gradient accumulation"):

- **BatchNorm** (DCGAN, SNGAN/BigGAN generators) normalises each micro-batch with its own
  mean and variance over B/M images, and its running averages are updated M times per
  step, once per micro-batch, as the layer sees them in sequence. The minibatch standard
  deviation of StyleGAN2's discriminator likewise groups images within a micro-batch.
- **Randomness**: each micro-batch folds its index into the phase's keys, so augmentation
  and per-pixel noise are drawn independently per micro-batch, not as one big draw.

As in the big batch, every term sees the carried state of the phase's start (the LeCam
anchors, path length's mean); their new values combine by the term's ``carried_reduce``:
the mean of the micro-batches' updates for running averages of batch means (the big
batch's update exactly) and their sum for tallies (ADA's sign count).
Metrics are the means over micro-batches; the gradient norm is that of g.
"""

from typing import Any

import jax
import jax.numpy as jnp

from gan_jax.training.phases import Phase, PhaseInputs, phase_loss

PyTree = Any


def split(inputs: PhaseInputs, m: int) -> dict:
    """The phase's per-image inputs as M strided micro-batches (a leading axis of M), and
    M copies of each key with the micro-batch index folded in."""

    def cut(x):
        b = x.shape[0]
        return x.reshape(b // m, m, *x.shape[1:]).swapaxes(0, 1)

    keys = {name: jnp.stack([jax.random.fold_in(k, i) for i in range(m)]) for name, k in inputs.keys.items()}
    return {
        "real": cut(inputs.real),
        "real_y": cut(inputs.real_y),
        "z": cut(inputs.z),
        "fake_y": cut(inputs.fake_y),
        "keys": keys,
    }


def combine_carried(phase: Phase, start: dict, stacked: dict) -> dict:
    """Each term's new carried state from the M micro-batches' (stacked on axis 0), all of
    which started from ``start``: start + reduce_m(new_m − start)."""
    reduce = {t.name: jnp.mean if t.carried_reduce == "mean" else jnp.sum for t in phase.terms}
    return {
        name: jax.tree.map(lambda s, new: s + reduce[name](new - s, axis=0), start[name], value)
        for name, value in stacked.items()
    }


def value_and_grad(
    phase: Phase, models, state, inputs: PhaseInputs, params: PyTree, microbatches: int, rounds: bool = False
):
    """``(loss, metrics, carried, collections, gradient)`` of the phase's loss at ``params``;
    with ``microbatches`` M > 1, accumulated over M micro-batches as the big batch, or with
    ``rounds`` as NVlabs' rounds (module docstring). ``collections`` maps the state's fields
    ``d_vars`` and ``g_vars`` to the networks' collections after the phase, threaded through
    the micro-batches in order."""
    if microbatches == 1:
        (loss, (metrics, carried, collections)), grads = jax.value_and_grad(
            phase_loss(phase, models, state, inputs), has_aux=True
        )(params)
        return loss, metrics, carried, collections, grads

    def one(carry, x):
        collections, aux, total = carry
        micro = PhaseInputs(x["real"], x["real_y"], x["z"], x["fake_y"], x["keys"], aux)
        (loss, (metrics, carried, collections)), grads = jax.value_and_grad(
            phase_loss(phase, models, state.replace(**collections), micro), has_aux=True
        )(params)
        aux = {**aux, **carried} if rounds else aux
        return (collections, aux, jax.tree.map(jnp.add, total, grads)), (loss, metrics, carried)

    zeros = jax.tree.map(jnp.zeros_like, params)
    start = {"d_vars": state.d_vars, "g_vars": state.g_vars}
    (collections, aux, total), (losses, metrics, carried) = jax.lax.scan(
        one, (start, inputs.aux, zeros), split(inputs, microbatches)
    )
    metrics = jax.tree.map(lambda v: jnp.mean(v, axis=0), metrics)
    if rounds:
        return jnp.mean(losses), metrics, {name: aux[name] for name in carried}, collections, total
    grads = jax.tree.map(lambda g: g / microbatches, total)
    carried = combine_carried(phase, inputs.aux, carried)
    return jnp.mean(losses), metrics, carried, collections, grads
