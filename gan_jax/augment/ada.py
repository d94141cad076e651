"""ADA's augmentation pipeline (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data", section 2 and appendix B "Augmentations").

Every op of a pipeline fires on every image independently with probability p (NVlabs'
presets, `PIPELINES`, give every op the probability multiplier 1; R3GAN's 'bgcc' gives its
colour ops ½, `COLOUR_MULTIPLIER`). The ops, in the order
they are applied, with the parameters a fired op draws (u ∼ U[0, 1), n ∼ N(0, 1)):

blit   x-flip           mirror left-right with probability ½ (i = ⌊2u⌋)
       rotate90         rotation by i·90°, i = ⌊4u⌋ ∈ {0, 1, 2, 3}
       xint             integer translation round(t·size), t = 0.125·(2u − 1) per axis
geom   scale            isotropic scaling by s = 2^(0.2 n)
       rotate (pre)     rotation by θ = π(2u − 1); fires with p_rot = 1 − √(1 − p)
       aniso            x scaled by s, y by 1/s, s = 2^(0.2 n)
       rotate (post)    as pre-rotation; P(pre or post) = 1 − (1 − p_rot)² = p
       xfrac            translation by t·size, t = 0.125 n per axis
color  brightness       rgb ← rgb + b, b = 0.2 n
       contrast         rgb ← c·rgb, c = 2^(0.5 n)
       lumaflip         Householder reflection I − 2vvᵀ about the luma axis v = (1,1,1)/√3,
                        with probability ½ (i = ⌊2u⌋); inverts luma, keeps chroma
       hue              rotation by θ = π(2u − 1) about v (RGB only)
       saturation       chroma scaled by s = 2^n: vvᵀ + s(I − vvᵀ) (RGB only)
filter imgfilter        four frequency bands amplified, see `gan_jax.augment.filter`
noise  noise            x ← x + σ·N(0, 1) per pixel, σ = 0.1·|n|
cutout cutout           zero a rectangle of half the width and height centred at (u₁, u₂)
                        (in units of the image size)

The blit and geom ops compose into one 3×3 inverse matrix per image, executed by
`gan_jax.augment.geometry.warp` (all images, once any of those ops is in the pipeline);
the colour ops compose into one 4×4 affine matrix on (r, g, b, 1) — a 1-channel image
takes the mean of the RGB rows, i.e. x ← x·ΣC₀:₃ + C₃ of that mean row.

Non-leaking (section 2.2): D only ever sees augmented images, so G is trained to match
the augmented distributions; matching them implies matching the clean ones only if the
augmentation can be undone *in distribution*, which needs every op to skip some images
(p < 1): at p = 1 a uniform rotation makes all orientations equally likely, and G could
draw rotated images at no cost. In the paper's experiments the ops stayed non-leaking
while p was below about 0.8; beyond that augmentations start to show in G's output.

`ada_pipeline` is pure and jit-able, differentiable w.r.t. the images, and at p = 0
returns them untouched (same value and gradient as the identity).
"""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.augment import filter as augment_filter
from gan_jax.augment import geometry as augment_geometry
from gan_jax.augment.geometry import matrix, rotate2d, scale2d, translate2d

BLIT = ("xflip", "rotate90", "xint")
GEOM = ("scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
PIPELINES = {  # the presets of NVlabs' stylegan2-ada-pytorch (train.py --augpipe)
    "blit": BLIT,
    "geom": GEOM,
    "color": COLOR,
    "filter": ("imgfilter",),
    "noise": ("noise",),
    "cutout": ("cutout",),
    "bg": BLIT + GEOM,
    "bgc": BLIT + GEOM + COLOR,
    "bgcf": BLIT + GEOM + COLOR + ("imgfilter",),
    "bgcfn": BLIT + GEOM + COLOR + ("imgfilter", "noise"),
    "bgcfnc": BLIT + GEOM + COLOR + ("imgfilter", "noise", "cutout"),
    "bgcc": BLIT + GEOM + COLOR + ("cutout",),  # R3GAN's (brownvc/R3GAN train.py --aug)
}
# Probability multipliers of the colour ops, per pipeline (others: 1). R3GAN's pipeline
# fires brightness, contrast, luma flip, hue and saturation each with probability p/2.
COLOUR_MULTIPLIER = {"bgcc": 0.5}
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0
NOISE_STD, CUTOUT_SIZE = 0.1, 0.5


def draw_plan(ops: tuple[str, ...], channels: int) -> list[tuple[str, str, str]]:
    """(name, 'uniform' | 'normal', 'image' | 'pair' | 'pixels') of every random draw, in
    the order NVlabs' AugmentPipe makes them: an op's value, then whether it fires."""
    value = {
        "xflip": "uniform",
        "rotate90": "uniform",
        "xint": "uniform",
        "scale": "normal",
        "aniso": "normal",
        "xfrac": "normal",
        "brightness": "normal",
        "contrast": "normal",
        "lumaflip": "uniform",
        "hue": "uniform",
        "saturation": "normal",
    }
    plan = []
    for op in BLIT + ("scale", "rotate.pre", "aniso", "rotate.post", "xfrac") + COLOR:
        base = op.split(".")[0]
        if base not in ops or (base in ("hue", "saturation") and channels == 1):
            continue
        kind = "uniform" if base == "rotate" else value[op]
        plan += [
            (op, kind, "pair" if op in ("xint", "xfrac") else "image"),
            (op + ".apply", "uniform", "image"),
        ]
    if "imgfilter" in ops:
        for band in range(augment_filter.BANDS):
            plan += [
                (f"imgfilter.{band}", "normal", "image"),
                (f"imgfilter.{band}.apply", "uniform", "image"),
            ]
    if "noise" in ops:
        plan += [
            ("noise", "normal", "image"),
            ("noise.apply", "uniform", "image"),
            ("noise.pixels", "normal", "pixels"),
        ]
    if "cutout" in ops:
        plan += [("cutout.apply", "uniform", "image"), ("cutout.center", "uniform", "pair")]
    return plan


def draw(key: jax.Array, ops: tuple[str, ...], shape: tuple[int, int, int, int]) -> dict:
    """Every random number the pipeline ``ops`` needs for images of NHWC ``shape``."""
    b = shape[0]
    plan = draw_plan(ops, shape[3])
    # One generator call per distribution (rows of per-image numbers), then rows of it: a
    # call per draw would compile two dozen separate random-bit kernels.
    width = {"image": 1, "pair": 2, "pixels": 0}
    rows = {kind: sum(width[size] for _, k, size in plan if k == kind) for kind in ("uniform", "normal")}
    k_uniform, k_normal, k_pixels = jax.random.split(key, 3)
    pools = {
        "uniform": jax.random.uniform(k_uniform, (rows["uniform"], b), jnp.float32),
        "normal": jax.random.normal(k_normal, (rows["normal"], b), jnp.float32),
    }
    used, out = {"uniform": 0, "normal": 0}, {}
    for name, kind, size in plan:
        if size == "pixels":
            out[name] = jax.random.normal(k_pixels, tuple(shape), jnp.float32)
            continue
        first = used[kind]
        used[kind] += width[size]
        out[name] = pools[kind][first] if size == "image" else pools[kind][first : first + 2].T
    return out


def _fired(d: dict, name: str, p: jax.Array) -> jax.Array:
    return d[name + ".apply"] < p


def geometric_matrix(d: dict, p: jax.Array, ops: tuple[str, ...], height: int, width: int) -> jax.Array:
    """(B, 3, 3) inverse transform G⁻¹ (output pixel → input pixel, centred coordinates):
    G⁻¹ = I · M₁⁻¹ · M₂⁻¹ ⋯ over the fired blit and geom ops, in the order of the table."""
    b = next(iter(d.values())).shape[0]
    g = jnp.broadcast_to(jnp.eye(3, dtype=jnp.float32), (b, 3, 3))
    one = jnp.ones((b,), jnp.float32)
    if "xflip" in ops:
        i = jnp.where(_fired(d, "xflip", p), jnp.floor(d["xflip"] * 2), 0.0)
        g = g @ scale2d(1 - 2 * i, one)
    if "rotate90" in ops:
        i = jnp.where(_fired(d, "rotate90", p), jnp.floor(d["rotate90"] * 4), 0.0)
        g = g @ rotate2d(np.pi / 2 * i)
    if "xint" in ops:
        t = jnp.where(_fired(d, "xint", p)[:, None], (d["xint"] * 2 - 1) * XINT_MAX, 0.0)
        g = g @ translate2d(-jnp.round(t[:, 0] * width), -jnp.round(t[:, 1] * height))
    if "scale" in ops:
        s = jnp.where(_fired(d, "scale", p), jnp.exp2(d["scale"] * SCALE_STD), 1.0)
        g = g @ scale2d(1 / s, 1 / s)
    # Two independent rotations, either firing with p_rot, so one or both fire with p.
    p_rot = 1 - jnp.sqrt(jnp.clip(1 - p, 0.0, 1.0))
    rotation = lambda n: jnp.where(  # noqa: E731
        d[n + ".apply"] < p_rot,
        (d[n] * 2 - 1) * np.pi * ROTATE_MAX,
        0.0,
    )
    if "rotate" in ops:
        g = g @ rotate2d(rotation("rotate.pre"))
    if "aniso" in ops:
        s = jnp.where(_fired(d, "aniso", p), jnp.exp2(d["aniso"] * ANISO_STD), 1.0)
        g = g @ scale2d(1 / s, s)
    if "rotate" in ops:
        g = g @ rotate2d(rotation("rotate.post"))
    if "xfrac" in ops:
        t = jnp.where(_fired(d, "xfrac", p)[:, None], d["xfrac"] * XFRAC_STD, 0.0)
        g = g @ translate2d(-t[:, 0] * width, -t[:, 1] * height)
    return g


LUMA = np.array([1.0, 1.0, 1.0, 0.0]) / np.sqrt(3.0)  # the luma axis, homogeneous


def _luma_rotation(theta: jax.Array) -> jax.Array:
    """(B, 4, 4) rotation by θ about LUMA (Rodrigues: cos θ I + sin θ [v]ₓ + (1 − cos θ) vvᵀ)."""
    vx, vy, vz = LUMA[:3]
    c, s = jnp.cos(theta), jnp.sin(theta)
    cc = 1 - c
    return matrix(
        [
            [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
            [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
            [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
            [0, 0, 0, 1],
        ]
    )


def colour_matrix(d: dict, p: jax.Array, ops: tuple[str, ...], channels: int) -> jax.Array:
    """(B, 4, 4) affine colour transform C (colour_out = C colour_in): C = M_k ⋯ M₂ M₁ over
    the fired colour ops, in the order of the table; hue and saturation only for RGB."""
    b = next(iter(d.values())).shape[0]
    eye = jnp.eye(4, dtype=jnp.float32)
    c = jnp.broadcast_to(eye, (b, 4, 4))
    vv = jnp.asarray(np.outer(LUMA, LUMA), jnp.float32)
    if "brightness" in ops:
        t = jnp.where(_fired(d, "brightness", p), d["brightness"] * BRIGHTNESS_STD, 0.0)
        c = matrix([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]]) @ c
    if "contrast" in ops:
        s = jnp.where(_fired(d, "contrast", p), jnp.exp2(d["contrast"] * CONTRAST_STD), 1.0)
        c = matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]]) @ c
    if "lumaflip" in ops:
        i = jnp.where(_fired(d, "lumaflip", p), jnp.floor(d["lumaflip"] * 2), 0.0)
        c = (eye - 2 * vv * i[:, None, None]) @ c
    if "hue" in ops and channels > 1:
        theta = jnp.where(_fired(d, "hue", p), (d["hue"] * 2 - 1) * np.pi * HUE_MAX, 0.0)
        c = _luma_rotation(theta) @ c
    if "saturation" in ops and channels > 1:
        s = jnp.where(_fired(d, "saturation", p), jnp.exp2(d["saturation"] * SATURATION_STD), 1.0)
        c = (vv + (eye - vv) * s[:, None, None]) @ c
    return c


def apply_colour(x: jax.Array, c: jax.Array) -> jax.Array:
    """rgb ← C₀:₃,₀:₃ rgb + C₀:₃,₃ per pixel; for grey images the mean of those three rows."""
    if x.shape[3] == 3:
        return jnp.einsum("bij,bhwj->bhwi", c[:, :3, :3], x) + c[:, None, None, :3, 3]
    if x.shape[3] != 1:
        raise ValueError(f"colour augmentation needs 1 or 3 channels, not {x.shape[3]}")
    row = jnp.mean(c[:, :3, :], axis=1)  # (B, 4)
    return x * jnp.sum(row[:, :3], axis=1)[:, None, None, None] + row[:, None, None, None, 3]


def cutout(x: jax.Array, applied: jax.Array, center: jax.Array) -> jax.Array:
    """Zeroes pixels whose centres lie within ±size/2 of ``center`` (x, y in [0, 1]) along
    both axes, for the images where ``applied``; size = CUTOUT_SIZE of the image."""
    _, h, w, _ = x.shape
    size = jnp.where(applied, CUTOUT_SIZE, 0.0)[:, None, None]
    cols = ((jnp.arange(w) + 0.5) / w)[None, None, :]
    rows = ((jnp.arange(h) + 0.5) / h)[None, :, None]
    keep = (jnp.abs(cols - center[:, 0, None, None]) >= size / 2) | (
        jnp.abs(rows - center[:, 1, None, None]) >= size / 2
    )
    return x * keep[..., None].astype(x.dtype)


def augment_with(
    x: jax.Array, d: dict, p: jax.Array, ops: tuple[str, ...], colour_multiplier: float = 1.0
) -> jax.Array:
    """The pipeline ``ops`` on NHWC ``x`` with the given draws (see `draw`), for any p;
    the colour ops fire with probability ``colour_multiplier`` · p, the others with p.

    Matrix products and convolutions run in full float32 (accelerators may otherwise
    round them to TF32 or bfloat16, which would blur the lossless blits).
    """
    with jax.default_matmul_precision("highest"):
        return _augment_with(x, d, p, ops, colour_multiplier)


def _augment_with(
    x: jax.Array, d: dict, p: jax.Array, ops: tuple[str, ...], colour_multiplier: float
) -> jax.Array:
    dtype, x = x.dtype, x.astype(jnp.float32)
    b, h, w, c = x.shape
    p = jnp.asarray(p, jnp.float32)
    if any(op in ops for op in BLIT + GEOM):
        x = augment_geometry.warp(x, geometric_matrix(d, p, ops, h, w))
    if any(op in ops for op in COLOR):
        x = apply_colour(x, colour_matrix(d, p * colour_multiplier, ops, c))
    if "imgfilter" in ops:
        bands = range(augment_filter.BANDS)
        normals = jnp.stack([d[f"imgfilter.{i}"] for i in bands], axis=1)
        applied = jnp.stack([_fired(d, f"imgfilter.{i}", p) for i in bands], axis=1)
        x = augment_filter.apply_filter(x, augment_filter.band_gains(normals, applied))
    if "noise" in ops:
        sigma = jnp.where(_fired(d, "noise", p), jnp.abs(d["noise"]) * NOISE_STD, 0.0)
        x = x + d["noise.pixels"] * sigma[:, None, None, None]
    if "cutout" in ops:
        x = cutout(x, _fired(d, "cutout", p), d["cutout.center"])
    return x.astype(dtype)


def ada_pipeline(x: jax.Array, key: jax.Array, p: jax.Array, pipeline: str = "bgc") -> jax.Array:
    """ADA's augmentation of NHWC images ``x`` with probability ``p`` (a traced scalar).

    When p > 0 every image passes through the whole pipeline, as in NVlabs' AugmentPipe
    (one that no op fires on is resampled through the identity: unchanged to float32
    rounding); at p = 0 a `lax.cond` returns ``x`` itself, so value and gradient are
    exactly the identity's.
    """
    ops = PIPELINES[pipeline]
    d = draw(key, ops, x.shape)
    mult = COLOUR_MULTIPLIER.get(pipeline, 1.0)
    return jax.lax.cond(jnp.asarray(p) > 0, lambda t: augment_with(t, d, p, ops, mult), lambda t: t, x)
