"""BigGAN-style generator and discriminator (Brock et al. 2019, "Large Scale GAN Training
for High Fidelity Natural Image Synthesis", appendix B).

What makes it BigGAN rather than SNGAN (`gan_jax.models.resnet`, whose blocks it uses):

* **Shared class embedding**: one embedding e(c) for the whole generator; every
  BatchNorm gets its gain and bias as linear functions of it (`ModulatedBatchNorm`),
  instead of a separate class table per layer. Given class weights w instead of ids,
  e = Σ_c w_c e(c) (`layers.embed_classes`).
* **Hierarchical latents** (``model.biggan.hierarchical_z``): z is split into one chunk per
  up-block plus one for the input layer; block i's BatchNorms see [e(c), zᵢ], so noise
  enters at every scale.
* **Spectral normalisation in G as well as D** (Zhang et al. 2019, SAGAN), with
  orthogonal initialisation everywhere.
* **Self-attention** (SAGAN) at one resolution in each network (``model.biggan.attention_res``;
  0 turns it off).
* **Projection discriminator** (Miyato & Koyama 2018) on D's pooled features.

Unconditional (``num_classes`` = 0) the conditioning vector is the z chunk alone (or
plain BatchNorm without hierarchical z) and D has no projection term.

Widths: ``width`` is the number of channels of the block nearest the image; blocks
further from it have the multiples in ``G_CHANNELS`` / ``D_CHANNELS``: constant at CIFAR
scale; BigGAN's appendix B tables at 128 (G ch × [16, 8, 4, 2, 1]), 256 and 512 px; at
1024 px the same pattern one block longer (G ch × [16, 8, 8, 4, 2, 1, 1, 1], D ch × [1, 1,
1, 2, 4, 8, 8, 16, 16]), as compare_gan's BigGAN (Kurach et al. 2019) extends it.

Precision (``dtype``, ``model.dtype``) as in the SNGAN models: float32 parameters,
convolutions, linear layers and attention products in ``dtype``; BatchNorm statistics,
spectral normalisation, the attention softmax and the shared embedding's table float32;
float32 images from G and logits from D.
"""

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.layers import (
    Projection,
    SelfAttention,
    embed_classes,
    maybe_spectral,
    orthogonal_init,
    spectral_norm,
)
from gan_jax.models.resnet import DBlock, GBlock, layout as _resnet_layout

# resolution -> multiples of `width` for each G up-block's output (first → last).
G_CHANNELS = {
    28: (1, 1),
    32: (1, 1, 1),
    64: (8, 4, 2, 1),
    128: (16, 8, 4, 2, 1),
    256: (16, 8, 8, 4, 2, 1),
    512: (16, 8, 8, 4, 2, 1, 1),
    1024: (16, 8, 8, 4, 2, 1, 1, 1),
}
# resolution -> (multiple of `width`, downsample?) for each D block (first → last).
D_CHANNELS = {
    28: ((1, True), (1, True), (1, False)),
    32: ((1, True), (1, True), (1, False), (1, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (8, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
    256: ((1, True), (2, True), (4, True), (8, True), (8, True), (16, True), (16, False)),
    512: ((1, True), (1, True), (2, True), (4, True), (8, True), (8, True), (16, True), (16, False)),
    1024: (
        (1, True),
        (1, True),
        (1, True),
        (2, True),
        (4, True),
        (8, True),
        (8, True),
        (16, True),
        (16, False),
    ),
}


def layout(resolution: int) -> tuple[int, int]:
    """(base size, number of up-blocks), as the ResNet models."""
    return _resnet_layout(resolution)


def z_chunks(z_dim: int, num_blocks: int) -> list[int]:
    """Sizes of z's chunks for the input layer and each block, as equal as possible."""
    n = num_blocks + 1
    if z_dim < n:
        raise ConfigError(f"hierarchical z needs model.z_dim >= {n} (one chunk per block and the input)")
    return [z_dim // n + (1 if i < z_dim % n else 0) for i in range(n)]


class Generator(nn.Module):
    """``(B, z_dim)`` noise [and labels] → ``(B, R, R, C)`` images in [-1, 1]."""

    resolution: int = 32
    channels: int = 3
    width: int = 256
    num_classes: int = 0
    bn_momentum: float = 0.9
    dtype: jnp.dtype = jnp.float32
    shared_dim: int = 128
    hierarchical_z: bool = True
    attention_res: int = 0

    @nn.compact
    def __call__(self, z, labels=None, train: bool = True):
        base, ups = layout(self.resolution)
        widths = [self.width * m for m in G_CHANNELS[self.resolution]]
        if self.hierarchical_z:
            sizes = z_chunks(z.shape[-1], ups)
            bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
            chunks = [z[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        else:
            chunks = [z] + [None] * ups
        shared = None
        if self.num_classes:
            shared = embed_classes(
                nn.Embed(self.num_classes, self.shared_dim, embedding_init=orthogonal_init, name="shared"),
                labels,
            )

        def cond(chunk):
            parts = [t for t in (shared, chunk) if t is not None]
            return jnp.concatenate(parts, axis=-1) if parts else None

        project = nn.Dense(
            base * base * widths[0], kernel_init=orthogonal_init, dtype=self.dtype, name="project"
        )
        x = maybe_spectral(project, True, train)(chunks[0]).reshape(z.shape[0], base, base, widths[0])
        for i in range(ups):
            x = GBlock(
                widths[i],
                self.num_classes,
                self.bn_momentum,
                spectral=True,
                modulated=True,
                kernel_init=orthogonal_init,
                dtype=self.dtype,
            )(x, cond(chunks[i + 1]), train)
            if x.shape[1] == self.attention_res:
                x = SelfAttention(spectral=True, dtype=self.dtype)(x, train)
        x = nn.relu(
            nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, dtype=self.dtype)(x)
        )
        to_image = nn.Conv(
            self.channels, (3, 3), kernel_init=orthogonal_init, dtype=self.dtype, name="to_image"
        )
        return jnp.tanh(maybe_spectral(to_image, True, train)(x).astype(jnp.float32))


class Discriminator(nn.Module):
    """``(B, R, R, C)`` images [and labels] → ``(B,)`` raw scores; spectrally normalised."""

    resolution: int = 32
    width: int = 256
    num_classes: int = 0
    dtype: jnp.dtype = jnp.float32
    attention_res: int = 0

    @nn.compact
    def __call__(self, x, labels=None, train: bool = True):
        layout(self.resolution)
        attended = False
        x = x.astype(self.dtype)
        for i, (mult, down) in enumerate(D_CHANNELS[self.resolution]):
            x = DBlock(
                self.width * mult,
                downsample=down,
                first=i == 0,
                kernel_init=orthogonal_init,
                dtype=self.dtype,
            )(x, train)
            if x.shape[1] == self.attention_res and not attended:
                x, attended = SelfAttention(spectral=True, dtype=self.dtype)(x, train), True
        h = jnp.sum(nn.relu(x).astype(jnp.float32), axis=(1, 2))  # global sum pooling, in float32
        linear = nn.Dense(1, kernel_init=orthogonal_init, dtype=self.dtype, name="logit")
        logit = spectral_norm(linear)(h, update_stats=train)[:, 0]
        if self.num_classes:
            logit = logit + Projection(self.num_classes, spectral=True)(h, labels, train)
        return logit.astype(jnp.float32)
