"""One GAN training step: ``n_critic`` discriminator updates, then one generator update.

    train_step(state, batch, base_key) -> (state, metrics)

is a pure function, compiled once by `compile_train_step` with the state donated.
The order is the standard alternating scheme (Goodfellow et al. 2014, Algorithm 1):

1. For i in 1..n_critic: draw z ~ N(0, I), make x̃ = G(z) with G held fixed, and
   take one optimizer step on D's loss L_D(D(x), D(x̃)) for the i-th real batch x.
2. Draw fresh z, and take one optimizer step on G's loss L_G(D(G(z))) through the
   *updated* D, which is held fixed.
3. Update the EMA of G's parameters.

Class-conditional models see labels everywhere: real images with their dataset labels,
generated ones with classes drawn uniformly (G(z, c̃), D(x̃, c̃)). Unconditional models
receive the same labels and ignore them, so there is one step for both.

With ``config.augment`` on, every image D sees — real or generated, in either update —
passes through the same differentiable augmentation T first: D's inputs are T(x) and
T(G(z)), and G's gradient flows through T (`gan_jax.augment`). ADA's probability p lives
in ``state.scalars`` and moves every ``augment.ada_interval`` steps.

A D update never changes G's parameters or statistics, and a G update never changes
D's: each network's forward pass in the other's update runs in training mode (batch
statistics) but its collection updates are discarded.

Non-finite values: with ``config.nonfinite='skip'`` a step whose losses or gradient norms
are not all finite leaves the state as it was (bar the step counter, so the next step
draws new noise) and counts itself in ``scalars['skipped_steps']``. With ``'stop'`` (the
default) the step applies as computed and the loop stops the run on the first
non-finite metric (`gan_jax.trainer`).

Randomness: the step's key is ``fold_in(base_key, state.step)`` and every use gets its
own named subkey (`step_keys`), so a resumed run draws the same numbers as an
uninterrupted one and adding a new use never shifts the existing ones.
"""

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from gan_jax import augment, losses, parallel, regularizers
from gan_jax.state import GANState, ema_decay, update_ema

PyTree = Any
Metrics = dict[str, jax.Array]

# Stable ids: a subkey's value depends on its id only, never on which others exist.
_ROOT_STREAMS = {"init": 0, "train": 1, "sample": 2, "eval": 3}
_KEY_IDS = {"d_z": 0, "g_z": 1, "d_aug": 2, "dropout": 3, "d_y": 4, "g_y": 5, "d_gp": 6, "g_aug": 7}


def root_keys(seed: int) -> dict[str, jax.Array]:
    """The run's independent key streams: ``init``, ``train``, ``sample``, ``eval``."""
    root = jax.random.key(seed)
    return {name: jax.random.fold_in(root, i) for name, i in _ROOT_STREAMS.items()}


def step_keys(base_key: jax.Array, step: jax.Array, n_critic: int) -> dict[str, Any]:
    """Named subkeys for one step: ``d_z``, ``d_y``, ``d_gp``, ``d_aug`` (lists, one per D
    update), ``g_z``, ``g_y``, ``g_aug`` (noise, fake-class labels, augmentation), ``dropout``."""
    key = jax.random.fold_in(base_key, step)
    named = {name: jax.random.fold_in(key, i) for name, i in _KEY_IDS.items()}
    for name in ("d_z", "d_y", "d_gp", "d_aug"):
        named[name] = [jax.random.fold_in(named[name], i) for i in range(n_critic)]
    return named


def apply_model(model: nn.Module, params: PyTree, variables: dict, x: jax.Array,
                labels: jax.Array, train: bool) -> tuple[jax.Array, dict]:
    """Runs a module on (inputs, class labels), returning (output, updated collections).

    In training mode the collections (e.g. BatchNorm running averages) are mutable and
    their new values are returned; the caller decides whether to keep them.
    """
    inputs = {"params": params, **variables}
    if train and variables:
        out, updates = model.apply(inputs, x, labels, train=True, mutable=list(variables))
        return out, {**variables, **updates}
    return model.apply(inputs, x, labels, train=train), variables


def to_float_images(images: jax.Array) -> jax.Array:
    """uint8 [0, 255] → float32 [-1, 1]; done on device so the host ships 4× fewer bytes."""
    return images.astype(jnp.float32) * (2.0 / 255.0) - 1.0


def sample_noise(key: jax.Array, batch_size: int, z_dim: int) -> jax.Array:
    """z ~ N(0, I) at the global batch shape (identical for any device count)."""
    return jax.random.normal(key, (batch_size, z_dim), jnp.float32)


def sample_labels(key: jax.Array, batch_size: int, num_classes: int) -> jax.Array:
    """Classes for generated images, uniform over ``num_classes`` (all 0 when unconditional)."""
    if not num_classes:
        return jnp.zeros((batch_size,), jnp.int32)
    return jax.random.randint(key, (batch_size,), 0, num_classes, jnp.int32)


Update = Callable[..., tuple[GANState, Metrics]]


def make_updates(config: ml_collections.ConfigDict, g_model: nn.Module, d_model: nn.Module,
                 g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation
                 ) -> tuple[Update, Update]:
    """``d_update(state, real, real_y, z, fake_y, gp_key, aug_key)`` and
    ``g_update(state, z, fake_y, aug_key)``: one optimizer step each. Labels are ignored
    by unconditional models."""
    d_loss_fn_of_logits = losses.D_LOSSES[config.loss.d_loss]
    g_loss_fn_of_logits = losses.G_LOSSES[config.loss.g_loss]
    g_opt, d_opt, reg = config.optimizer.g, config.optimizer.d, config.regularizer
    aug = augment.make_augment(config)
    ada = config.augment.kind == "ada"

    def d_update(state: GANState, real: jax.Array, real_y: jax.Array, z: jax.Array,
                 fake_y: jax.Array, gp_key: jax.Array, aug_key: jax.Array
                 ) -> tuple[GANState, Metrics]:
        fake, _ = apply_model(g_model, state.g_params, state.g_vars, z, fake_y, train=True)
        fake = jax.lax.stop_gradient(fake)
        p, scalars = state.scalars["ada_p"], state.scalars
        real_key, fake_key = jax.random.fold_in(aug_key, 0), jax.random.fold_in(aug_key, 1)

        def loss_fn(d_params):
            real_logits, d_vars = apply_model(d_model, d_params, state.d_vars, aug(real, real_key, p),
                                              real_y, train=True)
            fake_logits, d_vars = apply_model(d_model, d_params, d_vars, aug(fake, fake_key, p),
                                              fake_y, train=True)
            adv = d_loss_fn_of_logits(real_logits, fake_logits)
            penalty = regularizers.weight_penalty(d_params, d_opt.l1, d_opt.l2)
            metrics = {"d_real": jnp.mean(real_logits), "d_fake": jnp.mean(fake_logits)}
            if d_opt.l1 or d_opt.l2:
                metrics.update(d_adv=adv, d_penalty=penalty)
            if reg.lecam_lambda:
                lecam = regularizers.lecam_penalty(real_logits, fake_logits, scalars["lecam_real"],
                                                   scalars["lecam_fake"])
                penalty = penalty + reg.lecam_lambda * lecam
                metrics["d_lecam"] = lecam
            # Penalties see D (after augmentation) as a function of its input alone; their
            # collection updates are dropped.
            d_of = lambda x: apply_model(d_model, d_params, state.d_vars, aug(x, real_key, p),  # noqa: E731
                                         real_y, train=True)[0]
            if reg.r1_gamma:
                lazy = state.step % reg.r1_every == 0
                r1 = jax.lax.cond(lazy, lambda: regularizers.r1_penalty(d_of, real), lambda: jnp.zeros(()))
                penalty = penalty + 0.5 * reg.r1_gamma * reg.r1_every * r1
                metrics["d_r1"] = r1
            if reg.gp_lambda:
                gp = regularizers.gradient_penalty(d_of, real, fake, gp_key)
                penalty = penalty + reg.gp_lambda * gp
                metrics["d_gp"] = gp
            return adv + penalty, (d_vars, metrics, real_logits, fake_logits)

        (loss, (d_vars, metrics, real_logits, fake_logits)), grads = jax.value_and_grad(
            loss_fn, has_aux=True)(state.d_params)
        updates, d_opt_state = d_tx.update(grads, state.d_opt_state, state.d_params)
        scalars = dict(scalars)
        if reg.lecam_lambda:
            scalars["lecam_real"] = regularizers.update_score_ema(scalars["lecam_real"], real_logits,
                                                                  reg.lecam_decay)
            scalars["lecam_fake"] = regularizers.update_score_ema(scalars["lecam_fake"], fake_logits,
                                                                  reg.lecam_decay)
        if ada:
            scalars["ada_sign_sum"] = scalars["ada_sign_sum"] + jnp.sum(jnp.sign(real_logits))
            scalars["ada_count"] = scalars["ada_count"] + real_logits.shape[0]
            metrics["ada_p"] = p
        state = state.replace(d_params=optax.apply_updates(state.d_params, updates),
                              d_vars=d_vars, d_opt_state=d_opt_state, scalars=scalars)
        return state, {"d_loss": loss, **metrics, "d_grad_norm": optax.tree.norm(grads)}

    def g_update(state: GANState, z: jax.Array, fake_y: jax.Array, aug_key: jax.Array
                 ) -> tuple[GANState, Metrics]:
        p = state.scalars["ada_p"]

        def loss_fn(g_params):
            fake, g_vars = apply_model(g_model, g_params, state.g_vars, z, fake_y, train=True)
            fake_logits, _ = apply_model(d_model, state.d_params, state.d_vars, aug(fake, aug_key, p),
                                         fake_y, train=True)
            adv = g_loss_fn_of_logits(fake_logits)
            penalty = regularizers.weight_penalty(g_params, g_opt.l1, g_opt.l2)
            metrics = {"g_adv": adv, "g_penalty": penalty} if g_opt.l1 or g_opt.l2 else {}
            return adv + penalty, (g_vars, metrics)

        (loss, (g_vars, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
        updates, g_opt_state = g_tx.update(grads, state.g_opt_state, state.g_params)
        g_params = optax.apply_updates(state.g_params, updates)
        ema = update_ema(state.ema_params, g_params, ema_decay(config, state.step))
        state = state.replace(g_params=g_params, g_vars=g_vars, g_opt_state=g_opt_state,
                              ema_params=ema)
        return state, {"g_loss": loss, **metrics, "g_grad_norm": optax.tree.norm(grads)}

    return d_update, g_update


def make_train_step(config: ml_collections.ConfigDict, g_model: nn.Module, d_model: nn.Module,
                    g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation
                    ) -> Callable[[GANState, dict, jax.Array], tuple[GANState, Metrics]]:
    """Builds the pure train step for a config; models and optimizers are closed over."""
    d_update, g_update = make_updates(config, g_model, d_model, g_tx, d_tx)
    n_critic, z_dim, num_classes = config.n_critic, config.model.z_dim, config.model.num_classes
    aug_cfg = config.augment

    skip_nonfinite = config.nonfinite == "skip"

    def train_step(state: GANState, batch: dict, base_key: jax.Array) -> tuple[GANState, Metrics]:
        start = state
        keys = step_keys(base_key, state.step, n_critic)
        images = to_float_images(batch["image"])  # (n_critic, B, H, W, C)
        batch_size = images.shape[1]
        for i in range(n_critic):
            state, d_metrics = d_update(state, images[i], batch["label"][i],
                                        sample_noise(keys["d_z"][i], batch_size, z_dim),
                                        sample_labels(keys["d_y"][i], batch_size, num_classes),
                                        keys["d_gp"][i], keys["d_aug"][i])
        state, g_metrics = g_update(state, sample_noise(keys["g_z"], batch_size, z_dim),
                                    sample_labels(keys["g_y"], batch_size, num_classes), keys["g_aug"])
        if aug_cfg.kind == "ada" and aug_cfg.ada_target:
            state = state.replace(scalars=adjust_ada(state.scalars, state.step, aug_cfg))
        metrics = {**d_metrics, **g_metrics}
        if skip_nonfinite:
            state, metrics = keep_if_finite(start, state, metrics)
        return state.replace(step=state.step + 1), metrics

    return train_step


def keep_if_finite(before: GANState, after: GANState, metrics: Metrics) -> tuple[GANState, Metrics]:
    """``after`` if every metric (losses, gradient norms) is finite, else ``before`` with
    ``skipped_steps`` counted; ``metrics['skipped']`` is 1 for a skipped step."""
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), after, before)
    skipped = 1.0 - finite.astype(jnp.float32)
    scalars = {**state.scalars, "skipped_steps": state.scalars["skipped_steps"] + skipped}
    return state.replace(scalars=scalars), {**metrics, "skipped": skipped}


def adjust_ada(scalars: dict, step: jax.Array, aug_cfg: ml_collections.ConfigDict) -> dict:
    """Every ``ada_interval`` steps, moves p by the sign heuristic and resets the tally."""
    due = (step + 1) % aug_cfg.ada_interval == 0
    p = augment.ada_adjust(scalars["ada_p"], scalars["ada_sign_sum"], scalars["ada_count"],
                           aug_cfg.ada_target, aug_cfg.ada_kimg)
    zero = jnp.zeros((), jnp.float32)
    return {**scalars, "ada_p": jnp.where(due, p, scalars["ada_p"]),
            "ada_sign_sum": jnp.where(due, zero, scalars["ada_sign_sum"]),
            "ada_count": jnp.where(due, zero, scalars["ada_count"])}


def compile_train_step(train_step: Callable, mesh: Mesh) -> Callable:
    """jit with the state replicated and donated, batches sharded on their batch axis (1)."""
    replicated = parallel.replicated(mesh)
    return jax.jit(
        train_step,
        in_shardings=(replicated, parallel.data_sharded(mesh, leading_unsharded=1), replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=0,
    )
