"""Key streams and the noise drawn from them.

Nothing in gan_jax draws from global randomness. A run has one root key, ``key(seed)``,
and four independent streams folded out of it (`root_keys`): ``init`` (parameters),
``train`` (the step's noise), ``sample`` (the fixed noise of the sample grids and the
standing batch) and ``eval`` (evaluation samples). A train step folds ``train`` with the
step number and then with a fixed id per use (`step_keys`), so

* a resumed run draws exactly the numbers an uninterrupted one would, and
* adding a new use never changes the numbers an existing use draws: a subkey's value
  depends on its id only, never on which other uses exist.
"""

from typing import Any

import jax
import jax.numpy as jnp

ROOT_STREAMS = {"init": 0, "train": 1, "sample": 2, "eval": 3}
# Stable ids: never renumber, only add (3 and 9 are retired: a new name takes 12 on).
STEP_KEY_IDS = {
    "d_z": 0,
    "g_z": 1,
    "d_aug": 2,
    "d_y": 4,
    "g_y": 5,
    "d_gp": 6,
    "g_aug": 7,
    "g_noise": 8,
    "g_reg": 10,
    "d_reg": 11,
}
PER_D_UPDATE = ("d_z", "d_y", "d_gp", "d_aug")  # one key per D update when n_critic > 1


def root_keys(seed: int) -> dict[str, jax.Array]:
    """The run's independent key streams: ``init``, ``train``, ``sample``, ``eval``."""
    root = jax.random.key(seed)
    return {name: jax.random.fold_in(root, i) for name, i in ROOT_STREAMS.items()}


def step_keys(base_key: jax.Array, step: jax.Array, n_critic: int) -> dict[str, Any]:
    """Named subkeys of one step. ``d_z``, ``d_y``, ``d_gp``, ``d_aug`` are lists, one key per
    D update; the rest (``g_z``, ``g_y``, ``g_aug``, ``g_noise``, ``g_reg``, ``d_reg``) are
    single keys. Phases derive their own keys from these."""
    key = jax.random.fold_in(base_key, step)
    named = {name: jax.random.fold_in(key, i) for name, i in STEP_KEY_IDS.items()}
    for name in PER_D_UPDATE:
        named[name] = [jax.random.fold_in(named[name], i) for i in range(n_critic)]
    return named


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
