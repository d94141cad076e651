"""The random numbers gan_jax's train steps draw, by the role a reference loop gives them.

A gan_jax step draws everything from its named keys (`gan_jax.training.keys.step_keys`); a peer
(NVlabs' or brownvc's loop) draws from torch's generator in call order. To run both on the
same numbers, `plan` recomputes every draw of K steps from gan_jax's own derivations —
`train_step.phase_inputs` for z and the classes, `accumulate.split` for micro-batches,
`phases.g_rngs` and the generator itself for style mixing and per-pixel noise (recorded
from an eager forward pass), the path-length key, `augment_ada.draw` for each D input —
and lays them out as the queues `benchmarks/peers/fed_random.py` feeds, in the order the
peer's code asks for them:

    Gmain  net: G's noise             loss: mixing          aug: D(G(z))
    Greg   net: G's noise             loss: mixing, pl      aug: —
    Dmain  net: G's noise             loss: mixing          aug: D(G(z)), D(x)
    Dreg                                                    aug: D(x)
    R3GAN D                                                 aug: D(x), D(G(z))
    R3GAN G                                                 aug: D(G(z)), D(x)

Images and noise go NHWC → NCHW. If gan_jax's step drew in another way than this file
assumes, the peer finds a draw it was not fed (or one fed and never asked for) and stops.
"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.training import accumulate
from gan_jax.augment import ada as augment_ada
from gan_jax.training import keys as keys_lib
from gan_jax.training import phases as phases_lib
from gan_jax.training import train_step as ts
from gan_jax.models import stylegan2

NVLABS_NAMES = {"G main": "Gmain", "G reg": "Greg", "D main": "Dmain", "D reg": "Dreg"}
R3GAN_NAMES = {"D main": "D", "G main": "G"}


@contextlib.contextmanager
def recorded(module):
    """Every ``jax.random.normal / uniform / randint`` that ``module`` calls, as (kind, value)."""
    real, draws = module.jax, []

    class Random:
        def __getattr__(self, name):
            return getattr(real.random, name)

        def normal(self, *args, **kwargs):
            return self._keep("normal", real.random.normal(*args, **kwargs))

        def uniform(self, *args, **kwargs):
            return self._keep("uniform", real.random.uniform(*args, **kwargs))

        def randint(self, *args, **kwargs):
            return self._keep("int", real.random.randint(*args, **kwargs))

        def _keep(self, kind, value):
            draws.append((kind, np.asarray(value)))
            return value

    class Jax:
        random = Random()

        def __getattr__(self, name):
            return getattr(real, name)

    module.jax = Jax()
    try:
        yield draws
    finally:
        module.jax = real


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def g_pass_draws(run, variables, z, y, key, method: str = "call") -> tuple[list, list]:
    """(style-mixing draws, per-pixel noise draws) of one training-mode pass of StyleGAN2's
    G with the phase key ``key``: 'call' is G(z, c); 'styles+synthesis' is the path-length
    pass (its styles, then its synthesis, each an apply with the same rngs)."""
    rngs = phases_lib.g_rngs(key)
    with recorded(stylegan2) as draws:
        if method == "call":
            run.g_model.apply(variables, z, y, train=True, rngs=rngs)
        else:
            ws = run.g_model.apply(variables, z, y, train=True, rngs=rngs, method="styles")
            n_mix = len(draws)
            run.g_model.apply(variables, ws, train=True, rngs=rngs, method="synthesis")
    if method == "call":
        n_mix = 3 if run.config.model.stylegan2.style_mixing_prob > 0 else 0
    mixing = [(kind, v) for kind, v in draws[:n_mix]]
    noise = [(kind, _nchw(v)) for kind, v in draws[n_mix:]]
    return mixing, noise


def aug_draws(config, key, shape) -> list:
    """The ADA pipeline's draws for one D input of NHWC ``shape``, in NVlabs' call order."""
    if config.augment.kind != "ada":
        return []
    ops = augment_ada.PIPELINES[config.augment.ada_pipeline]
    d = augment_ada.draw(key, ops, shape)
    out = []
    for name, kind, size in augment_ada.draw_plan(ops, shape[3]):
        value = np.asarray(d[name])
        out.append((kind, _nchw(value) if size == "pixels" else value))
    return out


def _micro(inputs, m: int) -> list[dict]:
    """The phase's inputs as M micro-batches (rows and keys), as `gan_jax.training.accumulate` cuts them."""
    if m == 1:
        return [dict(z=inputs.z, fake_y=inputs.fake_y, real=inputs.real, keys=inputs.keys)]
    parts = accumulate.split(inputs, m)
    return [
        dict(
            z=parts["z"][r],
            fake_y=parts["fake_y"][r],
            real=parts["real"][r],
            keys={k: v[r] for k, v in parts["keys"].items()},
        )
        for r in range(m)
    ]


def _round_queues(run, variables, phase, part) -> dict[str, list]:
    """The three queues of one round of ``phase`` (module docstring's table)."""
    config = run.config
    shape = part["real"].shape
    net, loss, aug = [], [], []
    keys = part["keys"]
    fake_aug, real_aug = (
        aug_draws(config, keys["aug_fake"], shape),
        aug_draws(config, keys["aug_real"], shape),
    )
    if config.model.architecture == "r3gan":
        aug = real_aug + fake_aug if phase.network == "d" else fake_aug + real_aug
        return {"aug": aug}
    if phase.every == 1:
        mixing, noise = g_pass_draws(run, variables, part["z"], part["fake_y"], keys["g"])
        net, loss = noise, mixing
        aug = fake_aug + (real_aug if phase.network == "d" else [])
    elif phase.network == "g":
        rows = shape[0] // config.regularizer.pl_batch_shrink
        z, y = part["z"][:rows], part["fake_y"][:rows]
        mixing, noise = g_pass_draws(run, variables, z, y, keys["g"], "styles+synthesis")
        pl = np.asarray(jax.random.normal(keys["pl"], (rows, *shape[1:]), jnp.float32))
        net, loss = noise, mixing + [("normal", _nchw(pl))]
    else:
        aug = real_aug
    return {"net": net, "loss": loss, "aug": aug}


def _queue(arrays: dict, prefix: str, entries: list) -> None:
    if not entries:
        return
    arrays[f"{prefix}.kinds"] = np.array([kind for kind, _ in entries])
    for k, (_, value) in enumerate(entries):
        arrays[f"{prefix}.{k}"] = np.asarray(value)


def _one_hot(labels, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if not num_classes:
        return np.zeros((labels.shape[0], 0), np.float32)
    return np.eye(num_classes, dtype=np.float32)[labels]


def step_plan(run, variables, batch: dict, t: int) -> dict[str, np.ndarray]:
    """The plan's arrays for step ``t`` with real batch ``batch`` (host uint8 (K, B, R, R, C)):
    reals and labels, and per phase due at t its z, classes and per-round queues. With M
    micro-batches the peer's round r is gan_jax's micro-batch r (rows r, r + M, …)."""
    config = run.config
    names = R3GAN_NAMES if config.model.architecture == "r3gan" else NVLABS_NAMES
    m, k = config.microbatches, config.model.num_classes
    keys = keys_lib.step_keys(run.keys["train"], jnp.asarray(t), config.n_critic)
    images = keys_lib.to_float_images(jnp.asarray(batch["image"]))
    labels = jnp.asarray(batch["label"])
    arrays = {}
    for j in range(images.shape[0]):  # the peer's order of each batch's rows: micro-batch by micro-batch
        order = np.concatenate([np.arange(r, images.shape[1], m) for r in range(m)])
        arrays[f"t{t}.real{j}"] = _nchw(np.asarray(batch["image"][j])[order])
        arrays[f"t{t}.real{j}_c"] = _one_hot(np.asarray(batch["label"][j])[order], k)
    for phase in run.phases:
        if t % phase.every:
            continue
        inputs = ts.phase_inputs(config, phase, keys, images, labels, {})
        parts = _micro(inputs, m)
        key = f"t{t}.{names[phase.name]}"
        arrays[f"{key}.gen_z"] = np.concatenate([np.asarray(p["z"]) for p in parts])
        arrays[f"{key}.gen_c"] = np.concatenate([_one_hot(p["fake_y"], k) for p in parts])
        for r, part in enumerate(parts):
            for name, entries in _round_queues(run, variables, phase, part).items():
                _queue(arrays, f"{key}.r{r}.{name}", entries)
    return arrays
