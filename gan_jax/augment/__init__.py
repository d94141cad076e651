"""Differentiable augmentation of the images the discriminator sees.

With little data D memorises the training set and G's gradients stop carrying
information. Augmenting *every* image D sees — real and generated, in D's update and
in G's — keeps D from over-fitting without teaching G to produce augmented images,
provided the augmentations are differentiable (G's gradient flows through them) and,
for ADA, applied with probability p < 1 so that the distribution of augmented images
still determines the original one ("non-leaking", Karras et al. 2020, section 2.2).

* **DiffAugment** (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
  GAN Training"): a fixed policy applied to every image, ``color`` (brightness,
  saturation, contrast), ``translation`` (1/8 of the size, zero padded) and ``cutout``
  (a square of half the size), each with its own random values per image.
* **ADA** (Karras et al. 2020, "Training Generative Adversarial Networks with Limited
  Data"): each operation of a pipeline is applied to each image independently with
  probability p, and p follows an over-fitting heuristic (`ada_adjust`). The pipelines
  are NVlabs' presets (``augment.ada_pipeline``, default 'bgc': pixel blitting, general
  geometric and colour transforms; 'bgcfnc' adds image-space filtering, noise and
  cutout); the ops, their distributions and the non-leaking condition are documented
  in `gan_jax.augment.ada`.

All functions are pure: the same key gives the same augmentation. Images are
``(B, H, W, C)`` floats in [-1, 1]; outputs may leave that range, as in the papers.
"""

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.augment import ada as augment_ada

KINDS = ("", "diffaugment", "ada")
DIFFAUGMENT_OPS = ("color", "translation", "cutout")
ADA_PIPELINES = tuple(augment_ada.PIPELINES)


def _per_image(key: jax.Array, x: jax.Array, minval=0.0, maxval=1.0) -> jax.Array:
    """One uniform draw per image, shaped to broadcast against ``x``."""
    return jax.random.uniform(key, (x.shape[0], 1, 1, 1), x.dtype, minval, maxval)


def brightness(x: jax.Array, shift: jax.Array) -> jax.Array:
    """x + b."""
    return x + shift


def saturation(x: jax.Array, factor: jax.Array) -> jax.Array:
    """Scales each pixel's deviation from its channel mean: m + s (x − m); identity for grey."""
    mean = jnp.mean(x, axis=3, keepdims=True)
    return (x - mean) * factor + mean


def contrast(x: jax.Array, factor: jax.Array) -> jax.Array:
    """Scales the deviation from the image mean: m + c (x − m)."""
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * factor + mean


def translate(x: jax.Array, shifts: jax.Array, max_shift: int) -> jax.Array:
    """Moves image i by integer ``shifts[i] = (dy, dx)`` pixels, |dy|, |dx| ≤ ``max_shift``,
    filling with zeros."""
    b, h, w, c = x.shape
    pad = max_shift
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

    def one(image, shift):
        return jax.lax.dynamic_slice(image, (pad - shift[0], pad - shift[1], 0), (h, w, c))

    return jax.vmap(one)(padded, shifts)


def cutout_mask(key: jax.Array, shape: tuple, ratio: float = 0.5) -> jax.Array:
    """1 everywhere except a zero square of side ``ratio``·size at a random centre per image.

    The square may cross the border (DiffAugment's convention: its centre is uniform over
    the image, so border pixels are cut less often than central ones).
    """
    b, h, w, _ = shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ky, kx = jax.random.split(key)
    cy = jax.random.randint(ky, (b, 1, 1), 0, h + (1 - size_h % 2))
    cx = jax.random.randint(kx, (b, 1, 1), 0, w + (1 - size_w % 2))
    rows = jnp.arange(h)[None, :, None]
    cols = jnp.arange(w)[None, None, :]
    inside = (
        (rows >= cy - size_h // 2)
        & (rows < cy - size_h // 2 + size_h)
        & (cols >= cx - size_w // 2)
        & (cols < cx - size_w // 2 + size_w)
    )
    return (~inside).astype(jnp.float32)[..., None]


def max_shift(size: int, ratio: float = 0.125) -> int:
    """s = round(ratio·size): the largest translation, 1/8 of the size in both papers."""
    return int(size * ratio + 0.5)


def random_shifts(key: jax.Array, batch: int, s: int) -> jax.Array:
    """Integer shifts uniform in [−s, s] per axis."""
    return jax.random.randint(key, (batch, 2), -s, s + 1)


def diff_augment(x: jax.Array, key: jax.Array, policy: tuple[str, ...] = DIFFAUGMENT_OPS) -> jax.Array:
    """DiffAugment with the given ops, in the paper's order (colour, translation, cutout).

    color:       x ← x + (u₁ − ½);  x ← m_c + 2u₂ (x − m_c);  x ← m + (u₃ + ½)(x − m),  uᵢ ∼ U[0, 1]
    translation: shift by (dy, dx) ∼ U{−s..s}², s = size/8, zero fill
    cutout:      zero a (size/2)² square at a uniform centre
    """
    keys = jax.random.split(key, 5)
    if "color" in policy:
        x = brightness(x, _per_image(keys[0], x) - 0.5)
        x = saturation(x, _per_image(keys[1], x) * 2.0)
        x = contrast(x, _per_image(keys[2], x) + 0.5)
    if "translation" in policy:
        s = max_shift(x.shape[1])
        x = translate(x, random_shifts(keys[3], x.shape[0], s), s)
    if "cutout" in policy:
        x = x * cutout_mask(keys[4], x.shape).astype(x.dtype)
    return x


def ada_augment(x: jax.Array, key: jax.Array, p: jax.Array, pipeline: str = "bgc") -> jax.Array:
    """ADA's ``pipeline`` (a key of `ADA_PIPELINES`) applied with probability ``p``;
    exactly ``x`` at p = 0. See `gan_jax.augment.ada.ada_pipeline`."""
    return augment_ada.ada_pipeline(x, key, p, pipeline)


def ada_adjust(
    p: jax.Array, sign_sum: jax.Array, count: jax.Array, target: float, kimg: float, shown: int
) -> jax.Array:
    """One ADA update of p from the real scores seen since the last one.

    r_t = E[sign(D(x_real))],   p ← max(p + sign(r_t − target) · n / (kimg · 1000), 0)

    Karras et al. 2020, section 3: r_t near 1 means D is confident on every training
    image (over-fitting), so p rises. r_t averages the ``count`` scores tallied
    (``sign_sum`` their sum); n = ``shown`` is the number of real images trained on since
    the last update (batch × interval), so p can move from 0 to 1 in ``kimg`` thousand
    images. Target 0.6 in the paper. As in NVlabs' training loop p is bounded below only:
    above 1 every op fires on every image, as at 1.
    """
    r_t = sign_sum / jnp.maximum(count, 1.0)
    step = jnp.sign(r_t - target) * shown / (kimg * 1000.0)
    return jnp.maximum(p + jnp.where(count > 0, step, 0.0), 0.0)


def probability(aux: dict) -> jax.Array:
    """ADA's current p from the step's carried state (``aux['ada']``); 0 without ADA."""
    return aux["ada"]["p"] if "ada" in aux else jnp.zeros((), jnp.float32)


def make_augment(config: ml_collections.ConfigDict):
    """``augment(images, key, p) -> images`` for ``config.augment``; identity when off."""
    aug = config.augment
    if aug.kind == "diffaugment":
        policy = tuple(op for op in aug.policy.split(",") if op)
        return lambda x, key, p: diff_augment(x, key, policy)
    if aug.kind == "ada":
        pipeline = aug.ada_pipeline
        return lambda x, key, p: ada_augment(x, key, p, pipeline)
    return lambda x, key, p: x
