"""Layers shared by the GAN architectures."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.ops import batch_slices


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


# Per-axis tap selection of a 4-tap, stride-2 transposed convolution padded to double the
# size: output 2m takes taps (0, 2) at inputs (m−1, m); output 2m+1 takes taps (1, 3) at
# inputs (m, m+1). Row r of phase p says which tap multiplies input m−1+r.
_PHASE_TAPS = np.zeros((2, 3, 4), np.float32)
_PHASE_TAPS[0, 0, 0] = _PHASE_TAPS[0, 1, 2] = 1.0
_PHASE_TAPS[1, 1, 1] = _PHASE_TAPS[1, 2, 3] = 1.0


def subpixel_kernel(kernel: jax.Array) -> jax.Array:
    """(4, 4, C_in, C_out) transposed-conv kernel → (3, 3, C_in, 4·C_out) stride-1 kernel
    whose output channel (a, b, c) is the output pixel (2m+a, 2n+b) of channel c."""
    taps = jnp.asarray(_PHASE_TAPS, kernel.dtype)
    k = jnp.einsum("ark,bcl,klio->rciabo", taps, taps, kernel)
    return k.reshape(3, 3, kernel.shape[2], 4 * kernel.shape[3])


def conv_transpose_4x4_s2(x: jax.Array, kernel: jax.Array, impl: str = "adjoint") -> jax.Array:
    """The 4×4, stride-2 transposed convolution that doubles H and W (Flax's
    ``ConvTranspose(k, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)))``, i.e. PyTorch's
    ``ConvTranspose2d(k=4, s=2, p=1)``), in one of three exactly equivalent forms:

    * ``native``: ``lax.conv_transpose`` (an input-dilated convolution), differentiated
      by XLA;
    * ``adjoint``: the same forward, with both gradients taken through the adjoint
      stride-2 convolution (`adjoint_kernel`): ∂/∂x = down(dy, T(W)) and ∂/∂W from the
      weight gradient of that down-convolution. XLA:CPU computes the input-dilated
      forward fast but its gradients an order of magnitude more slowly than those of a
      strided convolution; this form keeps the fast half of each;
    * ``subpixel``: a stride-1 3×3 convolution to 4× the channels followed by
      depth-to-space (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
      Using an Efficient Sub-Pixel Convolutional Neural Network"), with the adjoint
      gradients. Each output phase (2m+a, 2n+b) is a 2×2 correlation of the input with
      kernel taps selected from the 4×4 kernel (`subpixel_kernel`); the 3×3 window covers
      all four phases, so the forward does 9/4 of the multiply-adds, but no
      input-dilated convolution is left anywhere.

    ``adjoint`` and ``subpixel`` are `jax.custom_vjp` functions: they support
    reverse-mode differentiation (to any order), not forward-mode (`jax.jvp`); use
    ``native`` for that.
    """
    if impl == "native":
        return _dilated_forward(x, kernel)
    if impl == "adjoint":
        return _conv_transpose_adjoint(x, kernel)
    return _conv_transpose_subpixel(x, kernel)


def _dilated_forward(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)), dimension_numbers=_NHWC)


_NHWC = ("NHWC", "HWIO", "NHWC")


def _subpixel_forward(x: jax.Array, kernel: jax.Array) -> jax.Array:
    b, h, w, _ = x.shape
    c = kernel.shape[3]
    y = jax.lax.conv_general_dilated(
        x, subpixel_kernel(kernel), (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC
    )
    return y.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, c)


def conv_4x4_s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The 4×4, stride-2, padding-1 convolution that halves H and W (DCGAN's D layers)."""
    return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)), dimension_numbers=_NHWC)


def adjoint_kernel(kernel: jax.Array) -> jax.Array:
    """T(W): spatially flipped, input and output channels swapped. The 4×4 stride-2
    up- and down-convolutions are adjoint through it, ⟨up(x, W), y⟩ = ⟨x, down(y, T(W))⟩,
    and T is its own inverse."""
    return jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)


def _adjoint_bwd(residuals, dy):
    """Both gradients through the adjoint down-convolution, whose forward and weight
    gradient XLA:CPU computes fast: ∂/∂x = down(dy, T(W)); ∂/∂W = T(∂/∂V ⟨x, down(dy, V)⟩)."""
    x, kernel = residuals
    adjoint = adjoint_kernel(kernel)
    dx = conv_4x4_s2(dy, adjoint)
    return dx, adjoint_kernel(batch_slices.down_kernel_grad(dy, x, adjoint))


@jax.custom_vjp
def _conv_transpose_adjoint(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return _dilated_forward(x, kernel)


@jax.custom_vjp
def _conv_transpose_subpixel(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return _subpixel_forward(x, kernel)


_conv_transpose_adjoint.defvjp(lambda x, kernel: (_dilated_forward(x, kernel), (x, kernel)), _adjoint_bwd)
_conv_transpose_subpixel.defvjp(lambda x, kernel: (_subpixel_forward(x, kernel), (x, kernel)), _adjoint_bwd)

IMPLS = ("native", "adjoint", "subpixel")


def resolve_conv_transpose(impl: str) -> str:
    """'auto' → 'adjoint' on CPU (where XLA differentiates the native form 10–30x more
    slowly), else 'native'."""
    if impl == "auto":
        return "adjoint" if jax.default_backend() == "cpu" else "native"
    return impl


class UpConv(nn.Module):
    """4×4 stride-2 transposed convolution doubling H and W, with ``impl`` choosing the
    equivalent computation (`conv_transpose_4x4_s2`). Parameters are those of
    ``nn.ConvTranspose``: ``kernel`` (4, 4, C_in, C_out) and ``bias`` (C_out,).
    The ``adjoint`` form runs on ``batch_slices`` slices of the batch
    (`batch_slices.up_sliced`; 0: by layer size on the CPU, see `batch_slices.auto_slices`),
    its weight gradient chosen by ``weight_grad`` (`batch_slices.use_taps`)."""

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    dtype: jnp.dtype = jnp.float32
    impl: str = "auto"
    batch_slices: int = 0
    weight_grad: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features), jnp.float32)
        impl = resolve_conv_transpose(self.impl)
        b, h, w, c = x.shape
        size = batch_slices.activation_bytes((b, 2 * h, 2 * w, self.features), (b, h, w, c))
        n = batch_slices.resolve(self.batch_slices, b, size) if impl == "adjoint" else 1
        itemsize = jnp.dtype(self.dtype).itemsize
        taps = impl == "adjoint" and batch_slices.use_taps(
            self.weight_grad, (b, 2 * h, 2 * w, self.features), itemsize
        )  # the adjoint's weight gradient is down's, with the output gradient as its input
        if n > 1 or taps:
            y = batch_slices.up_sliced(x.astype(self.dtype), kernel.astype(self.dtype), n, taps)
        else:
            y = conv_transpose_4x4_s2(x.astype(self.dtype), kernel.astype(self.dtype), impl)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(
                self.dtype
            )
        return y


class DownConv(nn.Module):
    """4×4 stride-2, padding-1 convolution halving H and W (DCGAN's discriminator layers),
    with the parameters of ``nn.Conv(features, (4, 4), strides=(2, 2), padding=1)``:
    ``kernel`` (4, 4, C_in, C_out) and ``bias``. With more than one ``batch_slices`` (0:
    by layer size on the CPU, `batch_slices.auto_slices`) the convolution and both its
    gradients run per batch slice (`batch_slices.down_sliced`), and so does a weight
    gradient by the taps (``weight_grad``, `batch_slices.use_taps`); otherwise it is the
    plain convolution, differentiated by XLA."""

    features: int
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    dtype: jnp.dtype = jnp.float32
    batch_slices: int = 0
    weight_grad: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (4, 4, x.shape[-1], self.features), jnp.float32)
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        n = batch_slices.resolve(self.batch_slices, x.shape[0], batch_slices.activation_bytes(x.shape))
        taps = batch_slices.use_taps(self.weight_grad, x.shape, jnp.dtype(self.dtype).itemsize)
        y = batch_slices.down_sliced(x, kernel, n, taps) if n > 1 or taps else batch_slices.down(x, kernel)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32).astype(
                self.dtype
            )
        return y
