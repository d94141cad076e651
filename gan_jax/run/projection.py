"""Projection: the latent a trained generator maps to a given image.

**StyleGAN2, W and W+** (Karras et al. 2020, "Analyzing and Improving the Image Quality
of StyleGAN", section 5 and appendix D; the schedule of NVlabs' projector.py). The
latent starts at w̄, the mean of f(z) over ``w_avg_samples`` draws of z, with spread
σ_w = √(E‖f(z) − w̄‖²). For t = step / steps:

    lr(t)    = lr₀ · min(1, t / rampup) · (½ − ½ cos(π · min(1, (1 − t) / rampdown)))
    σ_n(t)   = σ_w · noise_factor · max(0, 1 − t / noise_ramp)²
    loss     = d(G(w + σ_n(t) ε, n), x) + λ_n Σ_buffers R(n),   ε ~ N(0, I)
    R(n)     = Σ_scales [mean(n · roll_x(n))² + mean(n · roll_y(n))²], n halved (2×2
               mean) down to 8 × 8: the noise images' autocorrelation, kept near 0

optimised by Adam (β 0.9, 0.999) over w and the generator's per-layer noise images n,
which are renormalised to mean 0 and variance 1 after every step. W is one w for every
layer (NVlabs' projector); W+ one w per layer (Abdal et al. 2019, "Image2StyleGAN"),
more faithful and less editable. d is a perceptual distance (`gan_jax.metrics.perceptual`),
the target's side of it computed once.

**z, any architecture.** The same learning-rate schedule over z (from a seed's z), with
a penalty λ_z (mean(z²) − 1)² keeping z near the sphere where the generator was trained.

`project` returns the latent, the image it makes and its distance, and optionally the
image every ``record_every`` steps (for a video of the optimisation).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.errors import ConfigError
from gan_jax.metrics.perceptual import Distance
from gan_jax.models import build_models, stylegan2
from gan_jax.run.generator import TrainedGenerator, finite_uint8

SPACES = ("w", "w+", "z")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """NVlabs' projector defaults (``steps`` 1000; ``z_penalty`` is for z projection)."""

    steps: int = 1000
    lr: float = 0.1
    rampup: float = 0.05
    rampdown: float = 0.25
    noise_factor: float = 0.05
    noise_ramp: float = 0.75
    noise_weight: float = 1e5
    w_avg_samples: int = 10000
    z_penalty: float = 1.0


@dataclasses.dataclass(frozen=True)
class Projection:
    """What `project` found: ``latent`` (w (w_dim,), ws (num_ws, w_dim) or z (z_dim,)),
    ``noise`` (StyleGAN2's optimised noise images, name → (r, r); empty for z), the uint8
    ``image`` it makes, its ``distance`` to the target and the ``frames`` recorded."""

    space: str
    latent: np.ndarray
    noise: dict
    image: np.ndarray
    distance: float
    frames: np.ndarray


def learning_rate(t: jax.Array, s: Schedule) -> jax.Array:
    """lr(t) of the module docstring."""
    down = 0.5 - 0.5 * jnp.cos(jnp.pi * jnp.minimum(1.0, (1.0 - t) / s.rampdown))
    return s.lr * down * jnp.minimum(1.0, t / s.rampup)


def noise_regularizer(buffers: list[jax.Array]) -> jax.Array:
    """R of the module docstring, summed over the noise images (each (h, w))."""
    total = 0.0
    for n in buffers:
        while True:
            total += jnp.mean(n * jnp.roll(n, 1, axis=1)) ** 2 + jnp.mean(n * jnp.roll(n, 1, axis=0)) ** 2
            if min(n.shape) <= 8:
                break
            n = n.reshape(n.shape[0] // 2, 2, n.shape[1] // 2, 2).mean(axis=(1, 3))
    return total


def _normalized(n: jax.Array) -> jax.Array:
    n = n - jnp.mean(n)
    return n * jax.lax.rsqrt(jnp.mean(n * n))


def w_statistics(gen: TrainedGenerator, labels, samples: int, key) -> tuple[jax.Array, jax.Array]:
    """(w̄ (w_dim,), σ_w): the mean and spread of f(z) over ``samples`` draws of z."""
    g_model, _ = build_models(gen.config)
    z = jax.random.normal(key, (samples, gen.z_dim))
    labels = jnp.broadcast_to(jnp.asarray(labels), (samples,))
    ws = jax.jit(lambda z, c: g_model.apply(gen.variables, z, c, train=False, method="mapping"))(z, labels)
    w = ws[:, 0]
    mean = jnp.mean(w, axis=0)
    return mean, jnp.sqrt(jnp.sum(jnp.square(w - mean)) / samples)


def check_target(gen: TrainedGenerator, target: np.ndarray) -> jax.Array:
    """The uint8 target (H, W, C) as a (1, H, W, C) float in [-1, 1], if it fits the generator."""
    if target.shape != gen.image_shape:
        got, want = ("x".join(map(str, s)) for s in (target.shape, gen.image_shape))
        raise ConfigError(f"the target is {got} (height x width x channels); the generator makes {want}")
    return jnp.asarray(target, jnp.float32)[None] / 127.5 - 1.0


def _recorder(record_every: int):
    frames = []

    def record(step: int, images) -> None:
        if record_every and (step % record_every == 0):
            frames.append(finite_uint8(jax.device_get(images)[0], "the projection"))

    return frames, record


def _result(space, latent, noise, images, dist, frames) -> Projection:
    image = finite_uint8(jax.device_get(images)[0], "the projection")
    stacked = np.stack(frames) if frames else np.zeros((0, *image.shape), np.uint8)
    noise = {k: np.asarray(v) for k, v in noise.items()}
    return Projection(space, np.asarray(latent), noise, image, float(dist), stacked)


def _noise_buffers(gen: TrainedGenerator) -> dict:
    """The generator's const noise images, name → (r, r), flattened from ``noise_const``."""
    flat = jax.tree_util.tree_flatten_with_path(gen.variables.get("noise_const", {}))[0]
    return {jax.tree_util.keystr(path): leaf for path, leaf in flat}


def _with_noise(variables: dict, noise: dict) -> dict:
    paths, treedef = jax.tree_util.tree_flatten_with_path(variables["noise_const"])
    leaves = [noise[jax.tree_util.keystr(p)] for p, _ in paths]
    return {**variables, "noise_const": jax.tree_util.tree_unflatten(treedef, leaves)}


def _optimise(loss_fn, params, inputs, schedule: Schedule, key, post, record_every: int):
    """Adam over ``params`` for ``schedule.steps`` steps at lr(t); ``loss_fn(params, t, key,
    inputs)`` → (loss, (distance, images)); ``post(params)`` after each update. ``inputs``
    (the generator's variables, the distance, the target's features) are arguments of the compiled
    step, not constants baked into it. → (params, frames)."""
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=schedule.lr, b1=0.9, b2=0.999, eps=1e-8)

    @jax.jit
    def step(params, opt_state, t, key, inputs):
        opt_state.hyperparams["learning_rate"] = learning_rate(t, schedule)
        (_, (_, images)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, t, key, inputs)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return post(optax.apply_updates(params, updates)), opt_state, images

    opt_state = optimizer.init(params)
    frames, record = _recorder(record_every)
    for i in range(schedule.steps):
        t = jnp.float32(i / schedule.steps)
        params, opt_state, images = step(params, opt_state, t, jax.random.fold_in(key, i), inputs)
        record(i, images)
    return params, frames


@jax.jit
def _target_features(distance: Distance, x: jax.Array):
    return distance.features(x)


@jax.jit
def _final(distance: Distance, images: jax.Array, target_features) -> jax.Array:
    return distance.compare(distance.features(images), target_features)[0]


def _inputs(gen: TrainedGenerator, distance: Distance, target: np.ndarray) -> tuple:
    """(the generator's variables, the distance, the target's features): what the compiled
    step takes as arguments; the target's side of the distance is computed once, here."""
    return gen.variables, distance, _target_features(distance, check_target(gen, target))


def _initial_noise(gen: TrainedGenerator, key) -> dict:
    """Fresh N(0, 1) noise images, one per buffer of the generator (NVlabs starts from random)."""
    buffers = _noise_buffers(gen)
    return {
        k: jax.random.normal(jax.random.fold_in(key, i), v.shape) for i, (k, v) in enumerate(buffers.items())
    }


def project_w(
    gen, target, distance, schedule: Schedule, key, label=0, plus=False, record_every=0
) -> Projection:
    """Projection into W (``plus``: W+) of the module docstring; ``label`` is the class
    of a conditional generator."""
    g_model, _ = build_models(gen.config)
    inputs = _inputs(gen, distance, target)
    key_avg, key_noise, key = jax.random.split(key, 3)
    w_avg, w_std = w_statistics(gen, label, schedule.w_avg_samples, key_avg)
    num_ws = stylegan2.num_ws(gen.config.dataset.resolution)
    params = {
        "w": jnp.tile(w_avg[None], (num_ws, 1)) if plus else w_avg,
        "noise": _initial_noise(gen, key_noise),
    }

    def synth(params, eps, variables):
        ws = params["w"] + eps
        ws = ws if plus else jnp.broadcast_to(ws[None], (num_ws, ws.shape[-1]))
        variables = _with_noise(variables, params["noise"])
        return g_model.apply(variables, ws[None], noise_mode="const", train=False, method="synthesis")

    def loss_fn(params, t, key, inputs):
        variables, distance, target_features = inputs
        scale = w_std * schedule.noise_factor * jnp.maximum(0.0, 1.0 - t / schedule.noise_ramp) ** 2
        images = synth(params, scale * jax.random.normal(key, params["w"].shape), variables)
        d = distance.compare(distance.features(images), target_features)[0]
        return d + schedule.noise_weight * noise_regularizer(list(params["noise"].values())), (d, images)

    def post(params):
        return {"w": params["w"], "noise": {k: _normalized(n) for k, n in params["noise"].items()}}

    params, frames = _optimise(loss_fn, params, inputs, schedule, key, post, record_every)
    images = jax.jit(synth)(params, jnp.zeros_like(params["w"]), inputs[0])
    final = _final(inputs[1], images, inputs[2])
    return _result("w+" if plus else "w", params["w"], params["noise"], images, final, frames)


def project_z(gen, target, distance, schedule: Schedule, z0, label=0, record_every=0) -> Projection:
    """Projection into z of the module docstring, from ``z0`` (z_dim,)."""
    g_model, _ = build_models(gen.config)
    inputs = _inputs(gen, distance, target)
    labels = jnp.asarray([label], jnp.int32)

    def synth(z, variables):
        return g_model.apply(variables, z[None], labels, train=False)

    def loss_fn(z, t, key, inputs):
        variables, distance, target_features = inputs
        images = synth(z, variables)
        d = distance.compare(distance.features(images), target_features)[0]
        return d + schedule.z_penalty * (jnp.mean(z * z) - 1.0) ** 2, (d, images)

    z0 = jnp.asarray(z0, jnp.float32)
    z, frames = _optimise(loss_fn, z0, inputs, schedule, jax.random.key(0), lambda z: z, record_every)
    images = jax.jit(synth)(z, inputs[0])
    return _result("z", z, {}, images, _final(inputs[1], images, inputs[2]), frames)
