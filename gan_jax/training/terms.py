"""Loss terms: the pieces a training phase sums, registered by name.

A term is a small pure function

    term(view, carried) -> (loss, metrics, new carried)

of a *view* (`gan_jax.training.phases.DView` or `GView`: the network being updated as a function
of its parameters, the other one held fixed, the phase's images, labels and keys) and of
the term's own carried state (``state.aux[name]``, present only when the term is
configured). Its hyperparameters are bound when the config is read.

`TERMS` maps each name to a factory ``config -> Term | None`` that returns the term when
the config turns it on. A term with ``every`` = 1 joins its network's main phase; one with
``every`` = k > 1 runs lazily in its own phase every k steps with its loss scaled by k
(`gan_jax.training.phases`). Adding a technique is one term function, one factory in `TERMS`, and
its config fields; the step (`gan_jax.training.train_step`) is not edited.
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import augment
from gan_jax.training import losses
from gan_jax.training import regularizers
from gan_jax.training import schedules

Metrics = dict[str, jax.Array]
TermFn = Callable[[Any, dict], tuple[jax.Array, Metrics, dict]]


@dataclasses.dataclass(frozen=True)
class Term:
    name: str  # also the key of its carried state in ``state.aux``
    network: str  # 'd' or 'g': whose parameters its loss is differentiated for
    fn: TermFn
    every: int = 1  # 1: part of the main phase; k > 1: lazy, its own phase every k steps
    carried: dict[str, float] | None = None  # initial carried state (None: carries nothing)
    end_of_step: Callable[[dict, jax.Array], dict] | None = None  # carried, step -> carried
    metrics: tuple[str, ...] = ()  # the names of the metrics ``fn`` returns
    # How the carried updates of a step's micro-batches combine (`gan_jax.training.accumulate`):
    # 'mean' for running averages of batch means (the big batch's update), 'sum' for tallies.
    carried_reduce: str = "mean"
    # An observer (every = 1, zero loss) also runs in its network's lazy phase, after the
    # lazy terms, to read what that phase computes (ADA's tally of D's real scores).
    observes_lazy: bool = False


def _f32(value: float) -> jax.Array:
    return jnp.asarray(value, jnp.float32)


# ----------------------------------------------------------------------------
# Adversarial terms (equations in `gan_jax.training.losses`)


def d_adversarial(config: ml_collections.ConfigDict) -> Term:
    """L_D(D(x), D(G(z))) of ``loss.d_loss``, on the augmented real and generated batch."""
    loss_fn = losses.D_LOSSES[config.loss.d_loss]

    def fn(view, carried):
        real, fake = view.scores()
        loss = loss_fn(real, fake)
        return loss, {"d_adv": loss, "d_real": jnp.mean(real), "d_fake": jnp.mean(fake)}, carried

    return Term("d_adv", "d", fn, metrics=("d_adv", "d_real", "d_fake"))


def g_adversarial(config: ml_collections.ConfigDict) -> Term:
    """L_G(D(G(z))) of ``loss.g_loss``, through the (already updated) D held fixed; a paired
    loss (`losses.PAIRED_G_LOSSES`, RpGAN) also reads D(x) on the phase's real batch."""
    loss_fn = losses.G_LOSSES[config.loss.g_loss]
    paired = config.loss.g_loss in losses.PAIRED_G_LOSSES

    def fn(view, carried):
        fake = view.fake_scores()
        loss = loss_fn(fake, view.real_scores()) if paired else loss_fn(fake)
        return loss, {"g_adv": loss}, carried

    return Term("g_adv", "g", fn, metrics=("g_adv",))


# ----------------------------------------------------------------------------
# Weight penalties (`regularizers.weight_penalty`)


def _weight_penalty(side: str) -> Callable[[ml_collections.ConfigDict], Term | None]:
    def make(config):
        opt = config.optimizer[side]
        if not (opt.l1 or opt.l2):
            return None

        def fn(view, carried):
            penalty = regularizers.weight_penalty(view.params, opt.l1, opt.l2)
            return penalty, {f"{side}_penalty": penalty}, carried

        return Term(f"{side}_penalty", side, fn, metrics=(f"{side}_penalty",))

    return make


# ----------------------------------------------------------------------------
# Gradient penalties on D's input


def r1(config: ml_collections.ConfigDict) -> Term | None:
    """(γ/2)·R1 on real images, every ``regularizer.r1_every`` steps (`regularizers.r1_penalty`);
    γ from ``r1_gamma`` to ``final_r1_gamma`` on the run's schedule (`gan_jax.training.schedules`)."""
    reg = config.regularizer
    if not (reg.r1_gamma or reg.final_r1_gamma):
        return None

    def fn(view, carried):
        penalty = regularizers.r1_penalty(lambda x: view.d(x, view.real_y), view.real)
        gamma = schedules.value(config, reg.r1_gamma, reg.final_r1_gamma, view.step)
        return 0.5 * gamma * penalty, {"d_r1": penalty}, carried

    return Term("r1", "d", fn, every=reg.r1_every, metrics=("d_r1",))


def r2(config: ml_collections.ConfigDict) -> Term | None:
    """(γ/2)·R2 on generated images, every ``regularizer.r2_every`` steps
    (`regularizers.r2_penalty`); γ scheduled as R1's."""
    reg = config.regularizer
    if not (reg.r2_gamma or reg.final_r2_gamma):
        return None

    def fn(view, carried):
        fake, fake_y = view.fake(), view.fake_y
        penalty = regularizers.r2_penalty(lambda x: view.d(x, fake_y, real=False), fake)
        gamma = schedules.value(config, reg.r2_gamma, reg.final_r2_gamma, view.step)
        return 0.5 * gamma * penalty, {"d_r2": penalty}, carried

    return Term("r2", "d", fn, every=reg.r2_every, metrics=("d_r2",))


def gradient_penalty(config: ml_collections.ConfigDict) -> Term | None:
    """λ·GP on interpolates of real and generated images (`regularizers.gradient_penalty`)."""
    reg = config.regularizer
    if not reg.gp_lambda:
        return None

    def fn(view, carried):
        penalty = regularizers.gradient_penalty(
            lambda x: view.d(x, view.real_y), view.real, view.fake(), view.key("gp")
        )
        return reg.gp_lambda * penalty, {"d_gp": penalty}, carried

    return Term("gp", "d", fn, metrics=("d_gp",))


# ----------------------------------------------------------------------------
# Terms on D's outputs


def lecam(config: ml_collections.ConfigDict) -> Term | None:
    """λ·R_LC with anchors α_R, α_F carried as EMAs of D's mean scores
    (`regularizers.lecam_penalty`, `regularizers.update_score_ema`)."""
    reg = config.regularizer
    if not reg.lecam_lambda:
        return None

    def fn(view, carried):
        real, fake = view.scores()
        penalty = regularizers.lecam_penalty(real, fake, carried["real"], carried["fake"])
        new = {
            "real": regularizers.update_score_ema(carried["real"], real, reg.lecam_decay),
            "fake": regularizers.update_score_ema(carried["fake"], fake, reg.lecam_decay),
        }
        return reg.lecam_lambda * penalty, {"d_lecam": penalty}, new

    return Term("lecam", "d", fn, carried={"real": 0.0, "fake": 0.0}, metrics=("d_lecam",))


def ada(config: ml_collections.ConfigDict) -> Term | None:
    """ADA's over-fitting tally: Σ sign(D(x)) over every batch of real images D scores in
    training (each D update's, and the R1 pass of D's lazy phase, as NVlabs reports
    ``Loss/signs/real`` from Dmain and Dreg alike), and p moved by `augment.ada_adjust`
    every ``augment.ada_interval`` steps. No loss of its own; p is what every view augments
    with (`augment.probability`)."""
    aug = config.augment
    if aug.kind != "ada":
        return None
    reg = config.regularizer
    r1_lazy = reg.r1_every > 1 and bool(reg.r1_gamma or reg.final_r1_gamma)
    shown = config.batch_size * config.n_critic * aug.ada_interval  # real images per adjustment

    def fn(view, carried):
        real = view.real_scores()
        new = {
            **carried,
            "sign_sum": carried["sign_sum"] + jnp.sum(jnp.sign(real)),
            "count": carried["count"] + real.shape[0],
        }
        return jnp.zeros(()), {"ada_p": carried["p"]}, new

    def end_of_step(carried, step):
        if not aug.ada_target:  # p fixed, or on the run's schedule (R3GAN)
            if aug.final_ada_p is None:
                return carried
            p = schedules.value(config, aug.ada_p, aug.final_ada_p, step + 1)
            return {**carried, "p": jnp.asarray(p, jnp.float32)}
        due = (step + 1) % aug.ada_interval == 0
        p = augment.ada_adjust(
            carried["p"], carried["sign_sum"], carried["count"], aug.ada_target, aug.ada_kimg, shown
        )
        zero = _f32(0.0)
        return {
            "p": jnp.where(due, p, carried["p"]),
            "sign_sum": jnp.where(due, zero, carried["sign_sum"]),
            "count": jnp.where(due, zero, carried["count"]),
        }

    return Term(
        "ada",
        "d",
        fn,
        carried={"p": aug.ada_p, "sign_sum": 0.0, "count": 0.0},
        end_of_step=end_of_step,
        metrics=("ada_p",),
        carried_reduce="sum",
        observes_lazy=r1_lazy,
    )


# ----------------------------------------------------------------------------
# Generator regularizers


def path_length(config: ml_collections.ConfigDict) -> Term | None:
    """w·(‖J_wᵀ y‖ − a)² every ``regularizer.pl_every`` steps on a batch shrunk by
    ``regularizer.pl_batch_shrink``, with a carried as an EMA (`regularizers.path_length`)."""
    reg = config.regularizer
    if not reg.pl_weight:
        return None

    def fn(view, carried):
        batch = max(1, view.batch_size // reg.pl_batch_shrink)
        ws = view.apply(*view.inputs(batch), method="styles")  # with style mixing, as in G main
        synthesis = lambda w: view.apply(w, method="synthesis")  # noqa: E731
        penalty, lengths, mean = regularizers.path_length(
            synthesis, ws, view.key("pl"), carried["mean"], reg.pl_decay
        )
        return reg.pl_weight * penalty, {"g_pl": jnp.mean(lengths), "g_pl_mean": mean}, {"mean": mean}

    return Term(
        "path_length", "g", fn, every=reg.pl_every, carried={"mean": 0.0}, metrics=("g_pl", "g_pl_mean")
    )


# Main terms first, in the order their losses are summed; ADA, which only observes, after
# the terms that score the real batch.
TERMS: dict[str, Callable[[ml_collections.ConfigDict], Term | None]] = {
    "d_adv": d_adversarial,
    "d_penalty": _weight_penalty("d"),
    "lecam": lecam,
    "r1": r1,
    "r2": r2,
    "gp": gradient_penalty,
    "ada": ada,
    "g_adv": g_adversarial,
    "g_penalty": _weight_penalty("g"),
    "path_length": path_length,
}


def configured_terms(config: ml_collections.ConfigDict) -> list[Term]:
    """The terms ``config`` turns on, in `TERMS` order."""
    return [term for make in TERMS.values() if (term := make(config)) is not None]
