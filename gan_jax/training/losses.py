"""Adversarial losses: pure functions of the discriminator's raw outputs.

Every function takes the discriminator's unnormalised output ("logit" for the
cross-entropy losses, "critic score" for the others) and returns a scalar mean over
the batch. Notation: ``r = D(x)`` on real images, ``f = D(G(z))`` on generated ones,
``σ`` the logistic sigmoid, ``softplus(t) = log(1 + eᵗ)``. Using
``-log σ(t) = softplus(-t)`` and ``-log(1 - σ(t)) = softplus(t)`` keeps the
cross-entropy losses finite for any logit.

A config picks the discriminator's and the generator's loss separately
(``loss.d_loss``, ``loss.g_loss``); `D_LOSSES` and `G_LOSSES` map names to functions.
Generator losses take ``f`` alone, except the paired (relativistic) ones named in
`PAIRED_G_LOSSES`, which take ``(f, r)``.
"""

from typing import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


# ----------------------------------------------------------------------------
# Cross-entropy (Goodfellow et al. 2014, "Generative Adversarial Nets")


def d_cross_entropy(real_logits: Array, fake_logits: Array) -> Array:
    """Discriminator cross-entropy, shared by the minimax and non-saturating games.

    L_D = E[-log σ(r)] + E[-log(1 - σ(f))] = E[softplus(-r)] + E[softplus(f)]

    Goodfellow et al. 2014, eq. 1: D maximises log D(x) + log(1 - D(G(z))).
    """
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def g_non_saturating(fake_logits: Array) -> Array:
    """Non-saturating generator loss.

    L_G = E[-log σ(f)] = E[softplus(-f)]

    Goodfellow et al. 2014, section 3: G maximises log D(G(z)) instead of minimising
    log(1 - D(G(z))), which gives strong gradients early in training when D rejects
    the samples confidently. This is the DCGAN loss (Radford et al. 2015).
    """
    return jnp.mean(jax.nn.softplus(-fake_logits))


def g_minimax(fake_logits: Array) -> Array:
    """Minimax (saturating) generator loss, the original zero-sum game.

    L_G = E[log(1 - σ(f))] = -E[softplus(f)]

    Goodfellow et al. 2014, eq. 1. Its gradient vanishes as σ(f) → 0; it is here
    for completeness and for reproducing the paper's analysis.
    """
    return -jnp.mean(jax.nn.softplus(fake_logits))


# ----------------------------------------------------------------------------
# Least squares (Mao et al. 2017, "Least Squares Generative Adversarial Networks")


def d_least_squares(real_logits: Array, fake_logits: Array) -> Array:
    """LSGAN discriminator loss with targets a = 0 (fake), b = 1 (real).

    L_D = ½ E[(r - 1)²] + ½ E[f²]

    Mao et al. 2017, eq. 2 with the 0-1 coding of section 3.2.2; applied to the raw
    score, no sigmoid.
    """
    return 0.5 * jnp.mean((real_logits - 1.0) ** 2) + 0.5 * jnp.mean(fake_logits**2)


def g_least_squares(fake_logits: Array) -> Array:
    """LSGAN generator loss with target c = 1.

    L_G = ½ E[(f - 1)²]

    Mao et al. 2017, eq. 2. Applied to the raw score whatever the discriminator's
    loss is, so it can be paired with a cross-entropy D (the seed DCGAN's option).
    """
    return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


# ----------------------------------------------------------------------------
# Hinge (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018; Zhang et al. 2019)


def d_hinge(real_logits: Array, fake_logits: Array) -> Array:
    """Hinge discriminator loss.

    L_D = E[max(0, 1 - r)] + E[max(0, 1 + f)]

    Lim & Ye 2017; the loss of SNGAN (Miyato et al. 2018) and BigGAN.
    """
    return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def g_hinge(fake_logits: Array) -> Array:
    """Hinge-game generator loss: L_G = -E[f] (Lim & Ye 2017)."""
    return -jnp.mean(fake_logits)


# ----------------------------------------------------------------------------
# Wasserstein (Arjovsky et al. 2017, "Wasserstein GAN")


def d_wasserstein(real_logits: Array, fake_logits: Array) -> Array:
    """Wasserstein critic loss.

    L_D = E[f] - E[r]

    Arjovsky et al. 2017, eq. 3: the critic maximises E[D(x)] - E[D(G(z))], an
    estimate of the Wasserstein-1 distance when D is 1-Lipschitz. The constraint is
    not enforced here: pair it with a gradient penalty or spectral normalisation.
    """
    return jnp.mean(fake_logits) - jnp.mean(real_logits)


def g_wasserstein(fake_logits: Array) -> Array:
    """Wasserstein generator loss: L_G = -E[f] (Arjovsky et al. 2017)."""
    return -jnp.mean(fake_logits)


# ----------------------------------------------------------------------------
# Relativistic pairing (Jolicoeur-Martineau 2019, "The relativistic discriminator: a key
# element missing from standard GAN", RpGAN; Huang et al. 2024, "The GAN is dead; long
# live the GAN!", section 2.1, the loss of R3GAN)


def d_relativistic(real_logits: Array, fake_logits: Array) -> Array:
    """Relativistic pairing GAN, discriminator.

    L_D = E_i[ softplus(-(r_i - f_i)) ] = E_i[ -log σ(r_i - f_i) ]

    Real image i and generated image i form a pair (the same batch position, and the
    same class when ``loss.fake_labels='real'``): D is asked how much more real x_i looks
    than G(z_i), not whether each is real. Huang et al. 2024, eq. 2 (Jolicoeur-Martineau
    2019, eq. 8 with f = softplus(-t)); with zero-centred R1 and R2 it has a unique global
    optimum and converges locally (Huang et al. 2024, section 2.2).
    """
    return jnp.mean(jax.nn.softplus(-(real_logits - fake_logits)))


def g_relativistic(fake_logits: Array, real_logits: Array) -> Array:
    """Relativistic pairing GAN, generator: the same pairs, roles swapped.

    L_G = E_i[ softplus(-(f_i - r_i)) ]

    Huang et al. 2024, eq. 2. Its gradient pushes f_i above the paired r_i; D(x_i) is a
    constant for G.
    """
    return jnp.mean(jax.nn.softplus(-(fake_logits - real_logits)))


PAIRED_G_LOSSES = frozenset({"relativistic"})

D_LOSSES: dict[str, Callable[[Array, Array], Array]] = {
    "non_saturating": d_cross_entropy,
    "minimax": d_cross_entropy,
    "least_squares": d_least_squares,
    "hinge": d_hinge,
    "wasserstein": d_wasserstein,
    "relativistic": d_relativistic,
}

G_LOSSES: dict[str, Callable[..., Array]] = {
    "non_saturating": g_non_saturating,
    "minimax": g_minimax,
    "least_squares": g_least_squares,
    "hinge": g_hinge,
    "wasserstein": g_wasserstein,
    "relativistic": g_relativistic,  # (f, r): see PAIRED_G_LOSSES
}
