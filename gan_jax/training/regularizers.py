"""Regularizers added to a network's loss.

Weight penalties come in two forms, and the difference matters with Adam:

* **Explicit penalty** (`l1_penalty`, `l2_penalty`, config ``optimizer.{g,d}.l1`` and
  ``.l2``): a term added to the loss. Its gradient passes through Adam's per-parameter
  normalisation like any other gradient, so with Adam an L2 penalty is *not* weight
  decay: weights with large gradient variance are decayed less (Loshchilov & Hutter
  2019, section 2).
* **Decoupled weight decay** (config ``optimizer.{g,d}.weight_decay``): AdamW, applied
  by the optimizer in `gan_jax.training.state.make_optimizer` as ``w ← w - η λ w`` outside the
  adaptive update (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization").

Both act on kernels and embeddings only (`decay_mask`): penalising biases and
normalisation scales constrains nothing useful and is conventionally excluded.

Gradient penalties constrain the discriminator as a function of its input:

* `r1_penalty`: R1 (Mescheder et al. 2018), on real data, optionally lazy (Karras et
  al. 2020): config ``regularizer.r1_gamma``, ``regularizer.r1_every``.
* `r2_penalty`: R2 (Mescheder et al. 2018), the same on generated data: config
  ``regularizer.r2_gamma``, ``regularizer.r2_every``.
* `gradient_penalty`: WGAN-GP (Gulrajani et al. 2017), on interpolates between real and
  generated images: config ``regularizer.gp_lambda``.

`path_length` regularizes the generator instead (Karras et al. 2020, StyleGAN2): config
``regularizer.pl_weight``, ``pl_every``, ``pl_decay``, ``pl_batch_shrink``.

The LeCam regularizer (`lecam_penalty`, Tseng et al. 2021) acts on D's outputs instead:
config ``regularizer.lecam_lambda``, ``regularizer.lecam_decay``.

Both gradient penalties take ``d_fn``, a function from images to D's raw scores with everything else
(parameters, labels, collections) closed over, so they serve every architecture.
"""

from typing import Callable

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


def _input_gradients(d_fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """∇ₓ Σᵢ D(xᵢ): row i is ∇ D(xᵢ) when each score depends on its own image only."""
    return jax.grad(lambda inputs: jnp.sum(d_fn(inputs)))(x)


def r1_penalty(d_fn: Callable[[jax.Array], jax.Array], real: jax.Array) -> jax.Array:
    """R1 gradient penalty on real data (without its γ/2 factor).

    R₁ = E_{x∼p_data} [ ‖∇ₓ D(x)‖² ]

    Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
    Converge?", eq. 9, where the loss term is (γ/2)·R₁. Penalising D's gradient on the
    data manifold makes the Dirac-GAN equilibrium locally convergent.
    """
    grads = _input_gradients(d_fn, real)
    return jnp.mean(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1))


def r2_penalty(d_fn: Callable[[jax.Array], jax.Array], fake: jax.Array) -> jax.Array:
    """R2 gradient penalty on generated data (without its γ/2 factor).

        R₂ = E_{x̃∼p_G} [ ‖∇_x̃ D(x̃)‖² ]

    Mescheder, Geiger & Nowozin 2018, eq. 10. The generated images are constants here:
    only D is penalised. With R1 it is the pair R3GAN trains with (Huang et al. 2024).
    """
    grads = _input_gradients(d_fn, jax.lax.stop_gradient(fake))
    return jnp.mean(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1))


def gradient_penalty(
    d_fn: Callable[[jax.Array], jax.Array], real: jax.Array, fake: jax.Array, key: jax.Array
) -> jax.Array:
    """WGAN-GP two-sided penalty (without its λ factor).

    GP = E_{x̂} [ (‖∇_x̂ D(x̂)‖₂ − 1)² ],   x̂ = ε x + (1 − ε) x̃,  ε ∼ U[0, 1] per sample

    Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. 3: a soft
    1-Lipschitz constraint on the critic along lines between real and generated samples.
    """
    eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
    interpolates = eps * real + (1.0 - eps) * fake
    grads = _input_gradients(d_fn, interpolates)
    norms = jnp.sqrt(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1) + 1e-12)
    return jnp.mean(jnp.square(norms - 1.0))


def lecam_penalty(
    real_logits: jax.Array, fake_logits: jax.Array, ema_real: jax.Array, ema_fake: jax.Array
) -> jax.Array:
    """LeCam regularizer (without its λ factor).

    R_LC = E_x[ max(0, D(x) − α_F)² ] + E_z[ max(0, α_R − D(G(z)))² ]

    Tseng et al. 2021, "Regularizing Generative Adversarial Networks under Limited
    Data", eq. 3, where α_R and α_F are exponential moving averages of D's mean score on
    real and generated images (`update_score_ema`). Pulling real scores towards the
    generated anchor and vice versa bounds the LeCam divergence D optimises and keeps
    its predictions from drifting apart when data is scarce. The one-sided max(0, ·) is
    the form of the authors' code (and StudioGAN); the paper writes the squares alone.
    """
    return jnp.mean(jnp.square(jax.nn.relu(real_logits - ema_fake))) + jnp.mean(
        jnp.square(jax.nn.relu(ema_real - fake_logits))
    )


def update_score_ema(ema: jax.Array, logits: jax.Array, decay: float) -> jax.Array:
    """α ← γ α + (1 − γ) mean(D(·)), the anchors of `lecam_penalty` (γ = 0.99 in the paper)."""
    return decay * ema + (1.0 - decay) * jnp.mean(jax.lax.stop_gradient(logits))


def path_length(
    synthesis: Callable[[jax.Array], jax.Array], ws: jax.Array, key: jax.Array, mean: jax.Array, decay: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Path length penalty (without its weight): (penalty, per-sample lengths, new mean a).

        y ∼ N(0, I) / √(H·W),   ℓᵢ = √( mean_layers ‖ (J_wᵢ)ᵀ y ‖² ),
        a ← a + β (mean(ℓ) − a),   penalty = E[(ℓᵢ − a)²]

    Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", section 4
    and appendix B: a fixed-size step in w should change the image by a fixed amount in
    every direction, which makes the generator smoother and easier to invert. J_wᵀ y is
    one vector-Jacobian product of ⟨G(w), y⟩; ``ws`` is (B, num_ws, w_dim) and ℓ takes the
    squared norm over w_dim and its mean over the num_ws copies (StyleGAN2's code). As in
    that code, the updated mean a enters the penalty with its dependence on this batch's
    lengths (weight β = ``decay``, 0.01); the mean carried to the next step is a constant.
    """
    images, vjp = jax.vjp(synthesis, ws)
    h, w = images.shape[1], images.shape[2]
    noise = jax.random.normal(key, images.shape, images.dtype) / jnp.sqrt(float(h * w))
    (grads,) = vjp(noise)
    lengths = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))
    new_mean = mean + decay * (jnp.mean(lengths) - mean)
    penalty = jnp.mean(jnp.square(lengths - new_mean))
    return penalty, lengths, jax.lax.stop_gradient(new_mean)
