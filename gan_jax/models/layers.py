"""Layers shared by the GAN architectures; the 4×4 stride-2 convolutions compute in the
form their `gan_jax.ops.policy.Policy` names (`gan_jax.ops.conv4x4`)."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.ops import conv4x4
from gan_jax.ops.policy import Policy


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
        x = nn.BatchNorm(
            use_running_average=not train,
            momentum=self.momentum,
            epsilon=self.epsilon,
            use_scale=False,
            use_bias=False,
            dtype=self.dtype,
        )(x)
        features = x.shape[-1]
        gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros, name="gamma")
        beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros, name="beta")
        return _modulate(x, embed_classes(gamma, labels), embed_classes(beta, labels))


def embed_classes(embed: nn.Embed, labels: jax.Array) -> jax.Array:
    """E[c] for int class ids ``labels`` (B,), or Σ_c w_c E[c] for class weights (B, num_classes).

    Weights let a generator be conditioned on a mix of classes (interpolating between
    them); one-hot weights select a row exactly, as the ids do: each output is
    1·E[c] plus zeros, computed in full float32 precision.
    """
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return embed(labels)
    return jnp.dot(labels, embed.embedding, precision=jax.lax.Precision.HIGHEST)


def _modulate(x: jax.Array, gamma: jax.Array, beta: jax.Array) -> jax.Array:
    """x · (1 + γ) + β with per-example (B, C) γ, β broadcast over the spatial axes."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)
    return x * (1.0 + gamma.reshape(shape)).astype(x.dtype) + beta.reshape(shape).astype(x.dtype)


class ModulatedBatchNorm(nn.Module):
    """BatchNorm whose scale and shift are linear functions of a conditioning vector.

    y = (1 + W_γ c) · (x − μ) / √(σ² + ε) + W_β c

    BigGAN's conditional BatchNorm (Brock et al. 2019, section 4 and appendix B): c is the
    concatenation of a class embedding shared by all layers and, with hierarchical
    latents, the chunk of z that belongs to this block. W_γ, W_β have no bias and are
    spectrally normalised when ``spectral``.

    With a low-precision ``dtype`` the statistics and the normalisation are float32 (as
    in ``nn.BatchNorm``); W_γ c, W_β c and the modulation are computed in ``dtype``.
    """

    momentum: float = 0.9
    epsilon: float = 1e-5
    spectral: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, cond: jax.Array, train: bool) -> jax.Array:
        x = nn.BatchNorm(
            use_running_average=not train,
            momentum=self.momentum,
            epsilon=self.epsilon,
            use_scale=False,
            use_bias=False,
            dtype=self.dtype,
        )(x)
        features = x.shape[-1]

        def linear(name):
            layer = nn.Dense(
                features, use_bias=False, kernel_init=orthogonal_init, dtype=self.dtype, name=name
            )
            return maybe_spectral(layer, self.spectral, train)

        return _modulate(x, linear("gamma")(cond), linear("beta")(cond))


class Projection(nn.Module):
    """The class term of a projection discriminator: ⟨E[c], h⟩.

    Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3: the logit is
    ψ(h) + ⟨E[c], h⟩ for the discriminator's pooled features h, which makes D(x, c)
    the log-ratio of conditional densities under a log-linear model.
    """

    num_classes: int
    spectral: bool = False  # spectrally normalise the embedding matrix (BigGAN)

    @nn.compact
    def __call__(self, h: jax.Array, labels: jax.Array, train: bool = False) -> jax.Array:
        embed = nn.Embed(
            self.num_classes, h.shape[-1], embedding_init=nn.initializers.normal(0.02), name="embed"
        )
        embedding = maybe_spectral(embed, self.spectral, train)(labels)
        return jnp.sum(embedding.astype(h.dtype) * h, axis=-1)


SPECTRAL = "spectral"  # the collection that holds power-iteration vectors
orthogonal_init = nn.initializers.orthogonal()  # Saxe et al. 2014; BigGAN's initialisation


def spectral_norm(layer: nn.Module, n_steps: int = 1) -> nn.SpectralNorm:
    """Wraps a Dense/Conv so its kernel W is used as W / σ(W).

    σ(W), the largest singular value of W reshaped to a matrix, is estimated by power
    iteration (Miyato et al. 2018, "Spectral Normalization for GANs", Algorithm 1):

        v ← Wᵀu / ‖Wᵀu‖,   u ← Wv / ‖Wv‖,   σ ≈ uᵀWv

    ``n_steps`` iterations per call, continuing from the vector u kept in the
    ``spectral`` collection. The iteration, σ and W / σ are float32 (the parameters' and
    u's dtype) whatever the layer's compute ``dtype``, which casts the normalised kernel
    only when it applies it. Call it with ``update_stats=train``: the vector advances only
    when the network runs in training mode with its collections mutable, i.e. in the
    network's own update (the train step drops collection updates of the other network).
    """
    return nn.SpectralNorm(layer, n_steps=n_steps, collection_name=SPECTRAL)


def maybe_spectral(layer: nn.Module, spectral: bool, train: bool):
    """``layer`` as a function of its input, spectrally normalised when ``spectral``."""
    if spectral:
        return lambda x: spectral_norm(layer)(x, update_stats=train)
    return layer


class SelfAttention(nn.Module):
    """Self-attention over spatial positions (SAGAN: Zhang et al. 2019, eq. 1-3).

        f = W_f x,  g = W_g x,  h = W_h x            (1x1 convolutions)
        β_{j,i} = softmax_i( f_iᵀ g_j )              (attention of position j over i)
        o_j = W_o Σ_i β_{j,i} h_i,   y = x + γ o     (γ starts at 0)

    As in BigGAN, f and g have C/8 channels and h has C/2, and keys and values are 2x2
    max-pooled, quartering the cost. ``spectral`` wraps every convolution in `spectral_norm`.
    The convolutions and both products compute in ``dtype``; the softmax is float32.
    """

    spectral: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        b, height, width, c = x.shape

        def conv(features, name):
            layer = nn.Conv(
                features, (1, 1), use_bias=False, kernel_init=orthogonal_init, dtype=self.dtype, name=name
            )
            return maybe_spectral(layer, self.spectral, train)

        query = conv(c // 8, "query")(x).reshape(b, height * width, c // 8)
        key = nn.max_pool(conv(c // 8, "key")(x), (2, 2), (2, 2)).reshape(b, -1, c // 8)
        value = nn.max_pool(conv(c // 2, "value")(x), (2, 2), (2, 2)).reshape(b, -1, c // 2)
        scores = jnp.einsum("bqc,bkc->bqk", query, key)
        attention = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(value.dtype)
        out = jnp.einsum("bqk,bkc->bqc", attention, value).reshape(b, height, width, c // 2)
        out = conv(c, "out")(out)
        gamma = self.param("gamma", nn.initializers.zeros, ())
        return x + (gamma * out).astype(x.dtype)


class UpConv(nn.Module):
    """4×4 stride-2 transposed convolution doubling H and W (PyTorch's ConvTranspose2d(k=4,
    s=2, p=1)), computed in the form ``policy`` names (`gan_jax.ops.conv4x4.up_conv`).
    Parameters are those of ``nn.ConvTranspose``: ``kernel`` (4, 4, C_in, C_out), ``bias``."""

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    dtype: jnp.dtype = jnp.float32
    policy: Policy = Policy()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features), jnp.float32)
        y = conv4x4.up_conv(x.astype(self.dtype), kernel.astype(self.dtype), self.policy)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(
                self.dtype
            )
        return y


class DownConv(nn.Module):
    """4×4 stride-2, padding-1 convolution halving H and W (DCGAN's discriminator layers),
    computed as ``policy`` says (`gan_jax.ops.conv4x4.down_conv`), with the parameters of
    ``nn.Conv(features, (4, 4), strides=(2, 2), padding=1)``: ``kernel`` and ``bias``."""

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    dtype: jnp.dtype = jnp.float32
    policy: Policy = Policy()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features), jnp.float32)
        y = conv4x4.down_conv(x.astype(self.dtype), kernel.astype(self.dtype), self.policy)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(
                self.dtype
            )
        return y
