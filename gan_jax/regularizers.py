"""Regularizers added to a network's loss.

Weight penalties come in two forms, and the difference matters with Adam:

* **Explicit penalty** (`l1_penalty`, `l2_penalty`, config ``optimizer.{g,d}.l1`` and
  ``.l2``): a term added to the loss. Its gradient passes through Adam's per-parameter
  normalisation like any other gradient, so with Adam an L2 penalty is *not* weight
  decay: weights with large gradient variance are decayed less (Loshchilov & Hutter
  2019, section 2).
* **Decoupled weight decay** (config ``optimizer.{g,d}.weight_decay``): AdamW, applied
  by the optimizer in `gan_jax.state.make_optimizer` as ``w ← w - η λ w`` outside the
  adaptive update (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization").

Both act on kernels and embeddings only (`decay_mask`): penalising biases and
normalisation scales constrains nothing useful and is conventionally excluded.
"""

import jax
import jax.numpy as jnp
from flax import traverse_util

PyTree = object

_DECAYED_LEAVES = ("kernel", "embedding")


def decay_mask(params: PyTree) -> PyTree:
    """A pytree of bools, True for the leaves weight penalties apply to."""
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict({k: k[-1] in _DECAYED_LEAVES for k in flat})


def _masked_leaves(params: PyTree) -> list[jax.Array]:
    flat = traverse_util.flatten_dict(params)
    return [v for k, v in flat.items() if k[-1] in _DECAYED_LEAVES]


def l1_penalty(params: PyTree) -> jax.Array:
    """L1 (lasso) penalty: R(w) = Σᵢ |wᵢ| over kernels and embeddings.

    Tibshirani 1996. Scaled by ``optimizer.{g,d}.l1`` and added to the loss; its
    subgradient sign(w) drives small weights to exactly zero under SGD.
    """
    return sum((jnp.sum(jnp.abs(w)) for w in _masked_leaves(params)), jnp.zeros(()))


def l2_penalty(params: PyTree) -> jax.Array:
    """L2 (ridge / Tikhonov) penalty: R(w) = ½ Σᵢ wᵢ² over kernels and embeddings.

    The ½ makes the gradient λw, so with plain SGD a coefficient λ equals weight decay
    λ·η per step. Scaled by ``optimizer.{g,d}.l2`` and added to the loss.
    """
    return sum((0.5 * jnp.sum(jnp.square(w)) for w in _masked_leaves(params)), jnp.zeros(()))


def weight_penalty(params: PyTree, l1: float, l2: float) -> jax.Array:
    """λ₁·R₁(w) + λ₂·R₂(w), skipping a term whose coefficient is 0 at trace time."""
    total = jnp.zeros(())
    if l1:
        total = total + l1 * l1_penalty(params)
    if l2:
        total = total + l2 * l2_penalty(params)
    return total
