"""Phases: which network a part of the step updates, with which loss terms, how often.

    Phase = (network, terms, every)

    D main : the D terms with every = 1 (adversarial, weight penalty, LeCam, GP, ...)
    D reg  : the lazy D terms (R1 / R2 every k_D steps), loss × k_D
    G main : the G terms with every = 1 (adversarial, weight penalty)
    G reg  : the lazy G terms (path length every k_G steps), loss × k_G

as NVlabs' StyleGAN2 splits its work into Dmain, Dreg, Gmain and Greg. ``config.phase_order``
says which network goes first: 'd_first' (D main, D reg, G main, G reg), the alternation of
Goodfellow et al. 2014 (Algorithm 1) that DCGAN, SNGAN, BigGAN and R3GAN's loop follow, where
G's step sees the D of this step; or 'g_first' (G main, G reg, D main, D reg), the order of
NVlabs' StyleGAN2-ADA ``training_loop.py``, where G's step sees D as the previous step left
it. A term that observes (ADA's tally of D's real scores) also joins its network's lazy
phase, after that phase's own terms, when the lazy phase runs D on the real batch. A network with a lazy
phase gets Adam with learning rate × c and β₁, β₂ to the power c, c = k/(k+1) (Karras et al.
2020, appendix B; `optimizer_scale`), so that the optimizer's step size and memory per image
stay what they are without laziness. Main and lazy phases share the network's optimizer.

A phase's loss function builds a *view* of the step for its terms: `DView` (D as a
function of the parameters being differentiated, G held fixed) or `GView` (the reverse).
Views compute what terms ask for once, lazily: a term that asks for D's scores on the real
and generated batch gets the same arrays as every other term of the phase.

A D phase never changes G's parameters and a G phase never changes D's. The other network
runs in training mode (batch statistics) but its collection updates are discarded, with
one exception, ``Models.g_running``: G's collections that every training-mode pass of G
moves, in any phase (StyleGAN2's w̄ with ``model.stylegan2.w_avg_update='every_pass'``, as NVlabs'
mapping network updates ``w_avg`` in Gmain, Greg and Dmain alike). Within a phase the
collections thread from one forward pass to the next in the order the terms run them.
"""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import augment
from gan_jax.training import keys as keys_lib
from gan_jax.errors import ConfigError
from gan_jax.training.terms import Term, configured_terms

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str  # 'D main', 'D reg', 'G main', 'G reg'
    network: str  # 'd' | 'g'
    terms: tuple[Term, ...]
    every: int  # 1, or k for a lazy phase (runs when step % k == 0, loss × k)

    @property
    def prefix(self) -> str:
        """Metric prefix of the phase's loss and gradient norm: d, d_reg, g, g_reg."""
        return self.network + ("_reg" if self.every > 1 else "")

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every metric the phase reports: its loss, its terms' metrics, its gradient norm."""
        names = [f"{self.prefix}_loss", *(m for t in self.terms for m in t.metrics)]
        return (*names, f"{self.prefix}_grad_norm")


def lazy_metrics(phases: tuple["Phase", ...]) -> dict[str, tuple[str, ...]]:
    """For each lazy phase, its ``<prefix>_ran`` flag → the metrics it reports."""
    return {f"{p.prefix}_ran": p.metric_names for p in phases if p.every > 1}


NETWORK_ORDER = {"d_first": ("d", "g"), "g_first": ("g", "d")}


def build_phases(config: ml_collections.ConfigDict) -> tuple[Phase, ...]:
    """[D main, D reg, G main, G reg] for the terms ``config`` turns on, in
    ``config.phase_order`` (the lazy phases only where a term is lazy)."""
    terms = configured_terms(config)
    phases = []
    for net in NETWORK_ORDER[config.phase_order]:
        mine = [t for t in terms if t.network == net]
        phases.append(Phase(f"{net.upper()} main", net, tuple(t for t in mine if t.every == 1), 1))
        lazy = [t for t in mine if t.every > 1]
        intervals = sorted({t.every for t in lazy})
        if len(intervals) > 1:
            raise ConfigError(
                f"the lazy {net.upper()} regularizers {[t.name for t in lazy]} have "
                f"different intervals {intervals}; give them one interval"
            )
        if lazy:
            observers = tuple(t for t in mine if t.every == 1 and t.observes_lazy)
            phases.append(Phase(f"{net.upper()} reg", net, tuple(lazy) + observers, intervals[0]))
    return tuple(phases)


def running_collections(config: ml_collections.ConfigDict) -> tuple[str, ...]:
    """G's collections that every training-mode pass of G moves, whatever the phase
    (`Models.g_running`): StyleGAN2's w̄ with ``model.stylegan2.w_avg_update='every_pass'``."""
    model = config.model
    return (
        ("w_avg",)
        if model.architecture == "stylegan2" and model.stylegan2.w_avg_update == "every_pass"
        else ()
    )


def lazy_interval(phases: tuple[Phase, ...], network: str) -> int:
    """k of the network's lazy phase, 1 when it has none."""
    return max([p.every for p in phases if p.network == network], default=1)


def optimizer_scale(every: int) -> float:
    """c = k/(k+1): Adam's learning rate is multiplied by c and β₁, β₂ raised to c for a
    network regularized lazily every k steps (Karras et al. 2020, appendix B)."""
    return every / (every + 1.0) if every > 1 else 1.0


def apply_model(
    model: nn.Module,
    params: PyTree,
    variables: dict,
    *args: Any,
    train: bool,
    rngs: dict | None = None,
    **kwargs: Any,
) -> tuple[Any, dict]:
    """Runs a module, returning (output, updated collections).

    In training mode the collections (BatchNorm averages, StyleGAN's w_avg) are mutable and
    their new values are returned; the caller decides whether to keep them.
    """
    inputs = {"params": params, **variables}
    if train and variables:
        out, updates = model.apply(inputs, *args, train=True, mutable=list(variables), rngs=rngs, **kwargs)
        return out, {**variables, **updates}
    return model.apply(inputs, *args, train=train, rngs=rngs, **kwargs), variables


def g_rngs(key: jax.Array) -> dict[str, jax.Array]:
    """The generator's named randomness for one forward pass: per-pixel noise, style mixing."""
    return {"noise": jax.random.fold_in(key, 0), "mixing": jax.random.fold_in(key, 1)}


@dataclasses.dataclass
class PhaseInputs:
    """What one phase of one step works on; images are float in [-1, 1]."""

    real: jax.Array
    real_y: jax.Array
    z: jax.Array
    fake_y: jax.Array
    keys: dict[str, jax.Array]  # 'aug_real', 'aug_fake', 'gp', 'g' (G's rngs), 'pl', ...
    aux: dict  # state.aux at the phase's start


class _View:
    """Shared by both views: the models, the other network's fixed state, the inputs, and
    both networks' collections as this phase's forward passes leave them (``d_vars``,
    ``g_vars``)."""

    def __init__(self, models: "Models", state, inputs: PhaseInputs, params: PyTree):
        self._m, self._state, self._in, self.params = models, state, inputs, params
        self.real, self.real_y, self.fake_y = inputs.real, inputs.real_y, inputs.fake_y
        self.batch_size = inputs.real.shape[0]
        self.step = state.step  # completed steps before this one (scheduled hyperparameters)
        self._p = augment.probability(inputs.aux)
        self._cache: dict[str, Any] = {}
        self.d_vars, self.g_vars = state.d_vars, state.g_vars

    def key(self, name: str) -> jax.Array:
        return self._in.keys[name]

    def collections(self) -> dict[str, PyTree]:
        """Both networks' collections after the phase: the state fields they replace."""
        return {"d_vars": self.d_vars, "g_vars": self.g_vars}

    def _augment(self, x: jax.Array, real: bool) -> jax.Array:
        return self._m.augment(x, self._in.keys["aug_real" if real else "aug_fake"], self._p)

    def _d(self, d_params, d_vars, x, y, real: bool):
        return apply_model(self._m.d, d_params, d_vars, self._augment(x, real), y, train=True)

    def _g(self, g_params, *args, keep: str = "running", **kwargs) -> jax.Array:
        """G in training mode with this phase's randomness, from the phase's current G
        collections; ``keep`` 'all' keeps every collection update, 'running' only those of
        `Models.g_running` (the rest are dropped)."""
        out, new = apply_model(
            self._m.g,
            g_params,
            self.g_vars,
            *args,
            train=True,
            rngs=g_rngs(self._in.keys["g"]),
            **kwargs,
        )
        kept = new if keep == "all" else {k: new[k] for k in self._m.g_running if k in new}
        self.g_vars = {**self.g_vars, **kept}
        return out


class DView(_View):
    """D's phase: ``params`` are D's (differentiated); G is a fixed function."""

    def fake(self) -> jax.Array:
        """G(z, c̃), a constant for D's gradient."""
        if "fake" not in self._cache:
            out = self._g(self._state.g_params, self._in.z, self.fake_y)
            self._cache["fake"] = jax.lax.stop_gradient(out)
        return self._cache["fake"]

    def scores(self) -> tuple[jax.Array, jax.Array]:
        """(D(T(x)), D(T(G(z)))) in training mode, D's collections threaded real → fake."""
        if "scores" not in self._cache:
            real, d_vars = self._d(self.params, self._state.d_vars, self.real, self.real_y, True)
            fake, d_vars = self._d(self.params, d_vars, self.fake(), self.fake_y, False)
            self.d_vars = d_vars
            self._cache["scores"] = (real, fake)
        return self._cache["scores"]

    def real_scores(self) -> jax.Array:
        """D(T(x)) on the real batch, a constant: `scores`' when a term of this phase asked
        for them, else one forward pass as `d` makes it (the real pass of R1 in D's lazy
        phase, whose augmentation it shares)."""
        if "scores" in self._cache:
            return jax.lax.stop_gradient(self._cache["scores"][0])
        return jax.lax.stop_gradient(self.d(self.real, self.real_y))

    def d(self, x: jax.Array, y: jax.Array, real: bool = True) -> jax.Array:
        """D(T(x)) for any images, augmented as this phase's real (or generated) batch is,
        with the collections of the phase's start; their updates are dropped."""
        return self._d(self.params, self._state.d_vars, x, y, real)[0]


class GView(_View):
    """G's phase: ``params`` are G's (differentiated); D is a fixed function."""

    def fake(self) -> jax.Array:
        """G(z, c̃) in training mode; G's collection updates are kept."""
        if "fake" not in self._cache:
            self._cache["fake"] = self._g(self.params, self._in.z, self.fake_y, keep="all")
        return self._cache["fake"]

    def fake_scores(self) -> jax.Array:
        """D(T(G(z))), differentiable with respect to G."""
        s = self._state
        return self._d(s.d_params, s.d_vars, self.fake(), self.fake_y, False)[0]

    def real_scores(self) -> jax.Array:
        """D(T(x)) on the real batch (relativistic losses pair it with D(T(G(z))))."""
        s = self._state
        return jax.lax.stop_gradient(self._d(s.d_params, s.d_vars, self.real, self.real_y, True)[0])

    def inputs(self, batch: int) -> tuple[jax.Array, jax.Array]:
        """The first ``batch`` rows of the phase's (z, c̃)."""
        return self._in.z[:batch], self.fake_y[:batch]

    def apply(self, *args: Any, method: str | None = None, **kwargs: Any) -> Any:
        """G (or one of its methods) with the parameters being differentiated, in training
        mode with this phase's randomness; only `Models.g_running`'s updates are kept."""
        return self._g(self.params, *args, method=method, **kwargs)


@dataclasses.dataclass(frozen=True)
class Models:
    g: nn.Module
    d: nn.Module
    augment: Any  # augment(images, key, p) -> images
    g_running: tuple[str, ...] = ()  # G's collections every training pass moves (`running_collections`)


def phase_loss(phase: Phase, models: Models, state, inputs: PhaseInputs):
    """``params -> (k · Σ term losses, (metrics, new carried states, both networks'
    collections))`` for jax.grad."""
    view_cls = DView if phase.network == "d" else GView

    def loss_fn(params):
        view = view_cls(models, state, inputs, params)
        total, metrics, carried = jnp.zeros(()), {}, {}
        for term in phase.terms:
            loss, term_metrics, new = term.fn(view, inputs.aux.get(term.name))
            total = total + loss
            metrics.update(term_metrics)
            if term.carried is not None:
                carried[term.name] = new
        return total * phase.every, (metrics, carried, view.collections())

    return loss_fn


def init_aux(config: ml_collections.ConfigDict, phases: tuple[Phase, ...]) -> dict:
    """``state.aux``: each configured technique's carried state, float32, and nothing else."""
    aux = {
        t.name: {k: jnp.asarray(v, jnp.float32) for k, v in t.carried.items()}
        for p in phases
        for t in p.terms
        if t.carried is not None
    }
    if config.nonfinite == "skip":
        aux["nonfinite"] = {"skipped_steps": jnp.zeros((), jnp.float32)}
    return aux


def phase_keys(step_keys: dict, phase: Phase, i: int = 0) -> dict[str, jax.Array]:
    """The keys one phase uses, named for its terms, from the step's named keys."""
    fold = jax.random.fold_in
    if phase.network == "d" and phase.every == 1:
        aug = step_keys["d_aug"][i]
        return {
            "aug_real": fold(aug, 0),
            "aug_fake": fold(aug, 1),
            "gp": step_keys["d_gp"][i],
            "g": fold(step_keys["d_z"][i], 1),
        }
    if phase.network == "g" and phase.every == 1:
        return {
            "aug_fake": step_keys["g_aug"],
            "aug_real": fold(step_keys["g_aug"], 2),
            "g": step_keys["g_noise"],
        }
    base = step_keys[f"{phase.network}_reg"]
    names = ("aug_real", "aug_fake", "gp", "g", "pl", "z", "y")
    return {name: jax.random.fold_in(base, j) for j, name in enumerate(names)}


def lazy_inputs(
    phase: Phase,
    step_keys: dict,
    real: jax.Array,
    real_y: jax.Array,
    z_dim: int,
    num_classes: int,
    aux: dict,
    real_classes: bool = False,
) -> PhaseInputs:
    """Inputs of a lazy phase: the real batch of its network's last main update (D's last,
    or G's) and its own noise and classes (``real_classes``: the real batch's classes,
    `config.loss.fake_labels='real'`)."""
    k = phase_keys(step_keys, phase)
    b = real.shape[0]
    fake_y = real_y if real_classes else keys_lib.sample_labels(k["y"], b, num_classes)
    return PhaseInputs(real, real_y, keys_lib.sample_noise(k["z"], b, z_dim), fake_y, k, aux)
