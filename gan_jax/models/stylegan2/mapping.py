"""StyleGAN's mapping network (Karras et al. 2019, "A Style-Based Generator Architecture for
Generative Adversarial Networks", section 2; conditioning as in StyleGAN2-ADA, Karras et
al. 2020b): z [and a class embedding] → w, with the running mean w̄ used by truncation.

    x = [n(z), n(E c)],   n(v) = v / √(mean(v²) + 1e-8)
    w = f_L(… f_1(x)),    f_i = √2 · lrelu(equalised-lr dense, lr multiplier λ)

Truncation (the "truncation trick", StyleGAN section 3.1 / appendix B):
w' = w̄ + ψ(w − w̄) on all style vectors, or on the first ``truncation_cutoff``.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.stylegan2.layers import FullyConnected


def class_weights(labels: jax.Array, num_classes: int) -> jax.Array:
    """float32 (B, num_classes): one-hot rows for int class ids, the weights as given otherwise.

    NVlabs' networks take the label c as this vector, so int labels and one-hot weights
    give bit-identical results.
    """
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    return labels.astype(jnp.float32)


def normalize_2nd_moment(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """x / √(mean(x²) + ε) over the feature axis (StyleGAN's pixel norm of the latent)."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def lerp(a: jax.Array, b: jax.Array, t) -> jax.Array:
    """a + t·(b − a)."""
    return a + t * (b - a)


class MappingNetwork(nn.Module):
    """z [, class weights] → w (B, w_dim), or (B, num_ws, w_dim) when ``num_ws``.

    ``w_avg_beta`` None: no running mean (the discriminator's label mapping).
    """

    w_dim: int = 512
    num_classes: int = 0
    num_ws: int | None = None
    num_layers: int = 8
    lr_mul: float = 0.01
    w_avg_beta: float | None = 0.995

    @nn.compact
    def __call__(
        self,
        z: jax.Array | None,
        labels: jax.Array | None = None,
        truncation_psi=1.0,
        truncation_cutoff: int | None = None,
        update_w_avg: bool = False,
    ) -> jax.Array:
        parts = []
        if z is not None:
            parts.append(normalize_2nd_moment(z.astype(jnp.float32)))
        if self.num_classes:
            c = class_weights(labels, self.num_classes)
            parts.append(normalize_2nd_moment(FullyConnected(self.w_dim, name="embed")(c)))
        x = jnp.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = FullyConnected(self.w_dim, "lrelu", lr_mul=self.lr_mul, name=f"fc{i}")(x)

        if self.w_avg_beta is None:
            if self.num_ws is not None:
                x = jnp.repeat(x[:, None], self.num_ws, axis=1)
            return x
        w_avg = self.variable("w_avg", "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)
        if update_w_avg and self.is_mutable_collection("w_avg") and not self.is_initializing():
            mean = jnp.mean(jax.lax.stop_gradient(x), axis=0)
            w_avg.value = lerp(mean, w_avg.value, self.w_avg_beta)
        if self.num_ws is not None:
            x = jnp.repeat(x[:, None], self.num_ws, axis=1)
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
            if self.num_ws is None or truncation_cutoff is None:
                x = lerp(w_avg.value, x, truncation_psi)
            else:
                layer = jnp.arange(self.num_ws)[None, :, None]
                x = jnp.where(layer < truncation_cutoff, lerp(w_avg.value, x, truncation_psi), x)
        return x
