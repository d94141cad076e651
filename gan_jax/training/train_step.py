"""One GAN training step, as a sequence of phases.

    train_step(state, batch, base_key) -> (state, metrics)

is a pure function, compiled once by `compile_train_step` with the state donated. A step
runs the config's phases (`gan_jax.training.phases`), by default in the alternating order of
Goodfellow et al. 2014 (Algorithm 1; Karras et al. 2020 for the lazy phases):

1. D main, ``n_critic`` times: draw z ~ N(0, I), make x̃ = G(z) with G held fixed, and
   take one optimizer step on the sum of D's terms for the i-th real batch x.
2. D reg, on the steps where it is due (step % k_D == 0): one optimizer step on k_D × the
   lazy D terms (R1, R2), on D's last real batch.
3. G main: draw fresh z and take one optimizer step on the sum of G's terms through the
   *updated* D, which is held fixed.
4. G reg, when due (step % k_G == 0): one step on k_G × the lazy G terms (path length).
5. Each technique's end-of-step update of its carried state (ADA's p), and the EMA of G.

With ``config.phase_order='g_first'`` (NVlabs' StyleGAN2-ADA loop) steps 3–4 come first
and G's update sees D as the previous step left it. The batch holds one real batch per D
update, and with ``loss.g_real_batch='own'`` one more, the last, for G's phases (R3GAN's
loop draws G's real batch apart from D's); otherwise G pairs with D's last batch.

What each phase sums is a list of registered loss terms (`gan_jax.training.terms`); this
file knows none of them. Each term's carried state lives in ``state.aux[name]`` and comes
back from the term with the loss. With ``n_critic`` > 1, D main's metrics are the mean
over its updates.

Class-conditional models see labels everywhere: real images with their dataset labels,
generated ones with classes drawn uniformly (G(z, c̃), D(x̃, c̃)). Unconditional models
receive the same labels and ignore them, so there is one step for both.

With ``config.microbatches`` M > 1 every phase accumulates its gradient over M sequential
micro-batches of its batch before its one optimizer step (`gan_jax.training.accumulate`).

With ``config.freeze_d`` k > 0 D's first k blocks are held fixed (`gan_jax.training.freeze`).

Lazy phases run only on the steps they are due: by default the host picks one of up to
four compiled variants of the step, one per pattern of due lazy phases
(``lazy_dispatch='variants'``, `gan_jax.training.build.Run.stepper`); with ``lazy_dispatch='cond'``
one program decides under `jax.lax.cond`. Either way nothing recompiles as the intervals
cycle; on the steps a lazy phase skips, its metrics are 0 and its flag ``<prefix>_ran``
(``d_reg_ran``, ``g_reg_ran``) is 0, which the trainer uses to average them over the steps
they ran.

Non-finite values: with ``config.nonfinite='skip'`` a step whose losses or gradient norms
are not all finite leaves the state as it was (bar the step counter, so the next step
draws new noise) and counts itself in ``state.aux['nonfinite']['skipped_steps']``. With
``'stop'`` (the default) the step applies as computed and the loop stops the run on the
first non-finite metric (`gan_jax.run.trainer`).

Randomness: the step's key is ``fold_in(base_key, state.step)`` and every use gets its
own named subkey (`gan_jax.training.keys.step_keys`), so a resumed run draws the same numbers as
an uninterrupted one and adding a new use never shifts the existing ones.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from gan_jax import parallel
from gan_jax.training import keys as keys_lib
from gan_jax.training import schedules
from gan_jax.training import accumulate
from gan_jax.training import freeze
from gan_jax.training.phases import Models, Phase, PhaseInputs, lazy_inputs, phase_keys
from gan_jax.training import posthoc_ema
from gan_jax.training.state import GANState, ema_decay, update_ema

Metrics = dict[str, jax.Array]
_FIELDS = {"d": ("d_params", "d_opt_state"), "g": ("g_params", "g_opt_state")}


def run_phase(
    phase: Phase,
    models: Models,
    tx: optax.GradientTransformation,
    state: GANState,
    inputs: PhaseInputs,
    microbatches: int = 1,
    frozen=None,
    rounds: bool = False,
) -> tuple[GANState, Metrics]:
    """One optimizer step of ``phase``'s network on the sum of its terms (its gradient
    accumulated over ``microbatches`` sequential micro-batches, as the big batch or as
    ``rounds``, `gan_jax.training.accumulate`); the leaves ``frozen`` marks get zero gradients and
    updates (`gan_jax.training.freeze`)."""
    params_f, opt_f = _FIELDS[phase.network]
    params = getattr(state, params_f)
    loss, metrics, carried, collections, grads = accumulate.value_and_grad(
        phase, models, state, inputs, params, microbatches, rounds
    )
    grads = freeze.apply(grads, frozen)
    updates, opt_state = tx.update(grads, getattr(state, opt_f), params, step=state.step)
    updates = freeze.apply(updates, frozen)  # Adam's momentum would still move them
    state = state.replace(
        **collections,
        **{params_f: optax.apply_updates(params, updates), opt_f: opt_state, "aux": {**state.aux, **carried}},
    )
    prefix = phase.prefix
    metrics = {f"{prefix}_loss": loss, **metrics, f"{prefix}_grad_norm": optax.tree.norm(grads)}
    if phase.every == 1:  # a scheduled optimizer's learning rate at this step
        metrics.update(
            {f"{phase.network}_{k}": v for k, v in schedules.current_hyperparams(opt_state).items()}
        )
    return state, metrics


def run_lazy_phase(
    phase: Phase,
    models: Models,
    tx: optax.GradientTransformation,
    state: GANState,
    inputs: PhaseInputs,
    due: bool | None = None,
    microbatches: int = 1,
    frozen=None,
    rounds: bool = False,
) -> tuple[GANState, Metrics]:
    """`run_phase` when ``state.step % phase.every == 0``; otherwise the state unchanged and
    zero metrics. The flag ``<prefix>_ran`` says which. ``due`` None decides inside the
    program (`jax.lax.cond`); True or False decides at trace time (a step variant)."""
    run = lambda s: run_phase(phase, models, tx, s, inputs, microbatches, frozen, rounds)  # noqa: E731
    shapes = jax.eval_shape(run, state)[1]

    def skip(s):
        return s, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)

    if due is None:
        ran = state.step % phase.every == 0
        state, metrics = jax.lax.cond(ran, run, skip, state)
    else:
        ran = jnp.asarray(due)
        state, metrics = run(state) if due else skip(state)
    return state, {**metrics, f"{phase.prefix}_ran": ran.astype(jnp.float32)}


def phase_inputs(
    config: ml_collections.ConfigDict,
    phase: Phase,
    keys: dict,
    images: jax.Array,
    labels: jax.Array,
    aux: dict,
    i: int = 0,
) -> PhaseInputs:
    """What one run of ``phase`` works on, from the step's named ``keys`` and its real
    batches ``images`` (K, B, H, W, C) in [-1, 1] with ``labels`` (K, B): D main's i-th update
    takes batch i, D reg D's last (``n_critic`` − 1), G's phases the last one (G's own with
    ``loss.g_real_batch='own'``, else D's last); z and the generated classes are drawn from
    the phase's keys (`phases.lazy_inputs` for a lazy phase)."""
    z_dim, num_classes = config.model.z_dim, config.model.num_classes
    real_classes = config.loss.fake_labels == "real"
    if phase.network == "d":
        j = i if phase.every == 1 else config.n_critic - 1
    else:
        j = images.shape[0] - 1
    real, real_y = images[j], labels[j]
    if phase.every > 1:
        return lazy_inputs(phase, keys, real, real_y, z_dim, num_classes, aux, real_classes)
    d = phase.network == "d"
    z_key, y_key = (keys["d_z"][i], keys["d_y"][i]) if d else (keys["g_z"], keys["g_y"])
    b = real.shape[0]
    # Classes of the generated batch: drawn uniformly, or the real batch's own (each
    # generated image paired with a real one of its class, as R3GAN trains).
    fake_y = real_y if real_classes else keys_lib.sample_labels(y_key, b, num_classes)
    z = keys_lib.sample_noise(z_key, b, z_dim)
    return PhaseInputs(real, real_y, z, fake_y, phase_keys(keys, phase, i), aux)


def make_train_step(
    config: ml_collections.ConfigDict,
    phases: tuple[Phase, ...],
    models: Models,
    g_tx: optax.GradientTransformation,
    d_tx: optax.GradientTransformation,
    lazy_due: dict[str, bool] | None = None,
    batch_sharding: jax.sharding.Sharding | None = None,
) -> Callable[[GANState, dict, jax.Array], tuple[GANState, Metrics]]:
    """The pure train step for a config's phases; models and optimizers are closed over.

    ``lazy_due`` (phase name → bool) fixes which lazy phases run, for a step variant that
    is only called on steps where exactly those are due; None decides per step inside the
    one program. ``batch_sharding`` (`parallel.data_sharded`) lays out what each phase
    draws inside the step (z, classes) as the real batch is (`place_inputs`)."""
    n_critic, micro, rounds = config.n_critic, config.microbatches, config.microbatches_as == "rounds"
    architecture, freeze_d = config.model.architecture, config.freeze_d
    txs = {"d": d_tx, "g": g_tx}
    terms = [t for p in phases for t in p.terms]
    skip_nonfinite = config.nonfinite == "skip"

    def train_step(state: GANState, batch: dict, base_key: jax.Array) -> tuple[GANState, Metrics]:
        start = state
        keys = keys_lib.step_keys(base_key, state.step, n_critic)
        images = keys_lib.to_float_images(batch["image"])  # (K, B, H, W, C)
        d_frozen = freeze.frozen_mask(architecture, state.d_params, freeze_d) if freeze_d else None
        frozen = {"d": d_frozen, "g": None}
        metrics: Metrics = {}
        for phase in phases:
            runs = []
            for i in range(n_critic if phase.network == "d" and phase.every == 1 else 1):
                inputs = phase_inputs(config, phase, keys, images, batch["label"], state.aux, i)
                inputs = place_inputs(inputs, batch_sharding)
                tx, mask = txs[phase.network], frozen[phase.network]
                if phase.every > 1:
                    due = None if lazy_due is None else lazy_due[phase.name]
                    state, m = run_lazy_phase(phase, models, tx, state, inputs, due, micro, mask, rounds)
                else:
                    state, m = run_phase(phase, models, tx, state, inputs, micro, mask, rounds)
                runs.append(m)
            # D main's metrics are the mean over its n_critic updates.
            metrics.update(jax.tree.map(lambda *v: sum(v) / len(v), *runs))
        aux = dict(state.aux)
        for term in terms:
            if term.end_of_step is not None:
                aux[term.name] = term.end_of_step(aux[term.name], state.step)
        ema = update_ema(state.ema_params, state.g_params, ema_decay(config, state.step))
        if "posthoc_ema" in aux:
            sigmas = tuple(config.ema.posthoc.sigma_rels)
            aux["posthoc_ema"] = posthoc_ema.update(aux["posthoc_ema"], state.g_params, state.step, sigmas)
        state = state.replace(aux=aux, ema_params=ema)
        if skip_nonfinite:
            state, metrics = keep_if_finite(start, state, metrics)
        return state.replace(step=state.step + 1), metrics

    return train_step


def place_inputs(inputs: PhaseInputs, sharding: jax.sharding.Sharding | None) -> PhaseInputs:
    """``inputs`` with its batch-axis arrays constrained to ``sharding`` (None: as they are).

    The real batch arrives sharded over the data axis, but z and the classes are drawn
    inside the step from a replicated key; unconstrained, XLA may keep them replicated and
    run G and D on the whole global batch on every device. Constrained, every device draws
    and processes only its rows (the values are the same: JAX's random bits do not depend
    on the layout)."""
    if sharding is None:
        return inputs
    place = lambda x: jax.lax.with_sharding_constraint(x, sharding)  # noqa: E731
    return dataclasses.replace(
        inputs,
        real=place(inputs.real),
        real_y=place(inputs.real_y),
        z=place(inputs.z),
        fake_y=place(inputs.fake_y),
    )


def keep_if_finite(before: GANState, after: GANState, metrics: Metrics) -> tuple[GANState, Metrics]:
    """``after`` if every metric (losses, gradient norms) is finite, else ``before`` with
    ``aux['nonfinite']['skipped_steps']`` counted; ``metrics['skipped']`` is 1 for a skipped step."""
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), after, before)
    skipped = 1.0 - finite.astype(jnp.float32)
    counted = {"skipped_steps": state.aux["nonfinite"]["skipped_steps"] + skipped}
    return state.replace(aux={**state.aux, "nonfinite": counted}), {**metrics, "skipped": skipped}


def compile_train_step(train_step: Callable, mesh: Mesh) -> Callable:
    """jit with the state replicated and donated, batches sharded on their batch axis (1)."""
    replicated = parallel.replicated(mesh)
    return jax.jit(
        train_step,
        in_shardings=(replicated, parallel.data_sharded(mesh, leading_unsharded=1), replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=0,
    )
