"""One place that builds a run: models, phases, optimizers, key streams and states.

    run = build(config, mesh)
    state = run.init_state()             # or checkpoint.restore(manager, run.abstract_state())
    step = run.train_step()              # compiled, state donated
    images = run.sampler()(state.ema_params, state.g_vars, z, labels)

    gen = build_generator(config, mesh)  # G alone: sampling, evaluating, exporting
    images = gen.sampler()(gen_state.ema_params, gen_state.g_vars, z, labels)

The trainer, the tools, the benchmarks and the tests all start here, so a run's state has
the same layout everywhere it is made or read.
"""

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import ml_collections
import optax
from jax.sharding import Mesh

from gan_jax import augment, parallel
from gan_jax.training import keys as keys_lib
from gan_jax.training import phases as phases_lib
from gan_jax.training import sample
from gan_jax.training import state as state_lib
from gan_jax.training import train_step as train_step_lib
from gan_jax.models import build_models
from gan_jax.ops import policy as ops_policy
from gan_jax.training.state import GANState, GeneratorState


@dataclasses.dataclass(frozen=True)
class Generator:
    """The sampling side of a run: its config, mesh, generator and key streams. Sampling,
    evaluating and exporting a trained run need this and its `GeneratorState`, never D,
    the phases or the optimizers (`build_generator`; `Run.generator` of a whole run)."""

    config: ml_collections.ConfigDict
    mesh: Mesh
    g_model: nn.Module
    keys: dict[str, jax.Array]

    def init_state(self) -> GeneratorState:
        """The untrained generator, bit for bit the G side of `Run.init_state`."""
        init = lambda k: state_lib.init_generator_state(self.config, self.g_model, k)  # noqa: E731
        return jax.jit(init, out_shardings=parallel.replicated(self.mesh))(self.keys["init"])

    def abstract_state(self) -> GeneratorState:
        """Shapes, dtypes and shardings of the generator side, for reading it from a checkpoint."""
        shapes = jax.eval_shape(
            lambda k: state_lib.init_generator_state(self.config, self.g_model, k), self.keys["init"]
        )
        sharding = parallel.replicated(self.mesh)
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)

    def sampler(self, **g_kwargs) -> sample.Sampler:
        """The run's sampler: EMA generator + standing statistics of its standing batch."""
        return sample.make_sampler(self.g_model, self.config, self.keys["sample"], **g_kwargs)


def build_generator(config: ml_collections.ConfigDict, mesh: Mesh | None = None) -> Generator:
    """The `Generator` of ``config`` on ``mesh`` (default: every device)."""
    mesh = mesh if mesh is not None else parallel.create_mesh()
    g_model, _ = build_models(config, ops_policy.for_devices(config.ops, list(mesh.devices.flat)))
    return Generator(config, mesh, g_model, keys_lib.root_keys(config.seed))


@dataclasses.dataclass(frozen=True)
class Run:
    config: ml_collections.ConfigDict
    mesh: Mesh
    g_model: nn.Module
    d_model: nn.Module
    phases: tuple[phases_lib.Phase, ...]
    g_tx: optax.GradientTransformation
    d_tx: optax.GradientTransformation
    keys: dict[str, jax.Array]  # root streams: init, train, sample, eval (`gan_jax.training.keys`)

    def _state_args(self):
        return (
            self.config,
            self.g_model,
            self.d_model,
            self.g_tx,
            self.d_tx,
            self.mesh,
            self.keys["init"],
            phases_lib.init_aux(self.config, self.phases),
        )

    def init_state(self) -> GANState:
        """The initial state, replicated on the mesh (`state.create_state`)."""
        return state_lib.create_state(*self._state_args())

    def abstract_state(self) -> GANState:
        """Shapes, dtypes and shardings of the state, for restoring a checkpoint."""
        return state_lib.abstract_state(*self._state_args())

    def models(self) -> phases_lib.Models:
        """What the phases run: both networks, the augmentation, G's running collections."""
        return phases_lib.Models(
            self.g_model,
            self.d_model,
            augment.make_augment(self.config),
            phases_lib.running_collections(self.config),
        )

    def step_fn(self, lazy_due: dict[str, bool] | None = None) -> Callable:
        """The pure (uncompiled) train step (``lazy_due``: `train_step.make_train_step`)."""
        return train_step_lib.make_train_step(
            self.config,
            self.phases,
            self.models(),
            self.g_tx,
            self.d_tx,
            lazy_due,
            batch_sharding=parallel.data_sharded(self.mesh),
        )

    def train_step(self, lazy_due: dict[str, bool] | None = None) -> Callable:
        """The train step compiled for the mesh, state donated."""
        return train_step_lib.compile_train_step(self.step_fn(lazy_due), self.mesh)

    def stepper(self) -> Callable:
        """``(state, batch, key, step) -> (state, metrics)``: the step the trainer calls, ``step``
        being the host's count of completed steps (= ``state.step``, known without a device
        sync). With lazy phases and ``config.lazy_dispatch='variants'`` it calls one of up to
        four programs, each compiled on first use with exactly the lazy phases due at that
        step; with ``'cond'`` (or no lazy phase) one program decides inside
        (`train_step.run_lazy_phase`). Either way nothing compiles after the first cycle."""
        lazy = [p for p in self.phases if p.every > 1]
        if not lazy or self.config.lazy_dispatch == "cond":
            compiled = self.train_step()
            return lambda state, batch, key, step: compiled(state, batch, key)
        variants: dict[tuple[bool, ...], Callable] = {}

        def step_fn(state, batch, key, step: int):
            due = tuple(step % p.every == 0 for p in lazy)
            if due not in variants:
                variants[due] = self.train_step(dict(zip((p.name for p in lazy), due)))
            return variants[due](state, batch, key)

        step_fn.variants = variants
        return step_fn

    def generator(self) -> Generator:
        """The run's sampling side (what `build_generator` builds alone)."""
        return Generator(self.config, self.mesh, self.g_model, self.keys)

    def sampler(self, **g_kwargs) -> sample.Sampler:
        """The run's sampler: EMA generator + standing statistics of its standing batch."""
        return self.generator().sampler(**g_kwargs)


def build(config: ml_collections.ConfigDict, mesh: Mesh | None = None) -> Run:
    """The `Run` of ``config`` on ``mesh`` (default: every device, `parallel.create_mesh`)."""
    mesh = mesh if mesh is not None else parallel.create_mesh()
    g_model, d_model = build_models(config, ops_policy.for_devices(config.ops, list(mesh.devices.flat)))
    phases = phases_lib.build_phases(config)
    g_tx, d_tx = (
        state_lib.make_optimizer(
            config.optimizer[net],
            phases_lib.optimizer_scale(phases_lib.lazy_interval(phases, net)),
            state_lib.optimizer_hyperparams(config, config.optimizer[net]),
        )
        for net in ("g", "d")
    )
    return Run(config, mesh, g_model, d_model, phases, g_tx, d_tx, keys_lib.root_keys(config.seed))
