"""Layers shared by the GAN architectures."""

import flax.linen as nn
import jax
import jax.numpy as jnp


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose scale and shift are functions of the class.

    y = γ(c) · (x − μ) / √(σ² + ε) + β(c),   γ(c) = 1 + E_γ[c],  β(c) = E_β[c]

    de Vries et al. 2017 ("Modulating early visual processing by language"), used for
    class-conditional generators by Miyato & Koyama 2018 and BigGAN. The embeddings start
    at zero, so at initialisation the layer is plain BatchNorm without affine terms.
    Statistics (μ, σ²) are the batch's in training and the running averages otherwise,
    shared by all classes.
    """

    num_classes: int
    momentum: float = 0.9
    epsilon: float = 1e-5
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, labels: jax.Array, train: bool) -> jax.Array:
        x = nn.BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon,
                         use_scale=False, use_bias=False, dtype=self.dtype)(x)
        features = x.shape[-1]
        gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros, name="gamma")(labels)
        beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros, name="beta")(labels)
        shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
        return x * (1.0 + gamma.reshape(shape)).astype(x.dtype) + beta.reshape(shape).astype(x.dtype)


class Projection(nn.Module):
    """The class term of a projection discriminator: ⟨E[c], h⟩.

    Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3: the logit is
    ψ(h) + ⟨E[c], h⟩ for the discriminator's pooled features h, which makes D(x, c)
    the log-ratio of conditional densities under a log-linear model.
    """

    num_classes: int

    @nn.compact
    def __call__(self, h: jax.Array, labels: jax.Array) -> jax.Array:
        embedding = nn.Embed(self.num_classes, h.shape[-1],
                             embedding_init=nn.initializers.normal(0.02), name="embed")(labels)
        return jnp.sum(embedding.astype(h.dtype) * h, axis=-1)
