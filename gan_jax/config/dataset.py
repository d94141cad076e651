"""``dataset``: which images a run reads and how they reach the step.

dataset.*            source, name, path, split, resolution, aspect, channels, resize, classes,
                     max_examples, ...: see `gan_jax.data.sources`; mirror, workers, prefetch:
                     see `gan_jax.data.pipeline`

**Image shape.** ``resolution`` R is the longer side, a power of two; ``aspect`` "W:H"
(width to height) makes non-square images, height × width = R·H/L × R·W/L with
L = max(W, H): "4:3" at R = 32 is 24 × 32 (landscape), "3:4" is 32 × 24. The networks
that take it (StyleGAN2, R3GAN) start from, and end at, a base of 4·H/L × 4·W/L instead of
4 × 4, so 4·H/L and 4·W/L must be whole: the aspects are 1:1, 4:3, 3:4, 2:1, 1:2, 4:1, 1:4
(and their multiples, e.g. 8:6).
"""

import math


import ml_collections

from gan_jax.errors import ConfigError

NON_SQUARE = ("stylegan2", "r3gan")  # the architectures that take dataset.aspect


def section() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            name="fashion_mnist",  # tfds name, and the key for well-known local copies
            source="auto",  # 'auto' | 'packed' | 'tfds' | 'idx' | 'folder' | 'npz' | 'synthetic'
            path="",  # directory or file for the local sources (a pack's folder: source 'packed')
            split="train",
            resolution=28,
            aspect="1:1",  # width:height; R is the longer side (StyleGAN2, R3GAN: 4:3, 2:1, ...)
            channels=1,
            resize="pad",  # 'pad' (centre, background -1) or 'resize' (bilinear) to resolution
            data_dir="",  # tfds data_dir ('' = tfds default)
            download=False,  # let tfds download and prepare a dataset it does not have
            cache_dir="",  # where decoded uint8 arrays are cached ('' = no cache)
            prefetch=2,  # batches prepared ahead of the step, on device
            workers=0,  # packed/tfds: processes reading and decoding batches (grain); 0: the prefetch thread
            mirror=False,  # x-flips (NVlabs' --mirror): example N+i is image i flipped left-right; epoch 2N
            max_examples=0,  # use only the first N examples (0 = all)
            classes=(),  # keep only these labels, unchanged (empty = every class)
            bad_images="fail",  # folder: an undecodable or wrong-channel image 'fail's the run or is 'skip'ped
            convert_channels=False,  # folder: convert images with another channel count (grey <-> RGB, drop alpha)
        )
    )


def _aspect(text: str, name: str) -> tuple[int, int]:
    """ "W:H" → (W, H) in lowest terms; `ConfigError` unless both are positive integers."""
    parts = str(text).split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"{name}={text!r} must be width:height, e.g. '1:1' or '4:3'")
    w, h = int(parts[0]), int(parts[1])
    g = math.gcd(w, h)
    return w // g, h // g


def aspect_base(aspect: str, name: str = "dataset.aspect") -> tuple[int, int]:
    """(height, width) of the base block of ``aspect`` "W:H": (4, 4) for square images;
    `ConfigError` (naming the flag or field ``name``) for an aspect no such base makes."""
    w, h = _aspect(aspect, name)
    long = max(w, h)
    if (4 * h) % long or (4 * w) % long:
        raise ConfigError(
            f"{name}={aspect!r}: the base block would be 4*{h}/{long} x 4*{w}/{long} pixels; "
            f"choose an aspect whose sides are quarters of the longer one (1:1, 4:3, 3:4, 2:1, 1:2, 4:1, 1:4)"
        )
    return 4 * h // long, 4 * w // long


def shape_of(resolution: int, aspect: str, name: str = "dataset.aspect") -> tuple[int, int]:
    """(height, width) of images of longer side ``resolution`` and ``aspect``."""
    bh, bw = aspect_base(aspect, name)
    if (bh, bw) == (4, 4):
        return resolution, resolution
    if resolution % 4:
        raise ConfigError(f"{name}={aspect!r} needs a resolution divisible by 4, not {resolution}")
    return resolution * bh // 4, resolution * bw // 4


def base_shape(ds: ml_collections.ConfigDict) -> tuple[int, int]:
    """(height, width) of the networks' first (generator) and last (discriminator) block."""
    return aspect_base(ds.aspect)


def image_shape(ds: ml_collections.ConfigDict) -> tuple[int, int]:
    """(height, width) of the images: R/4 times `base_shape`, R × R for square images."""
    return shape_of(ds.resolution, ds.aspect)


def check_aspect(ds: ml_collections.ConfigDict, architecture: str) -> None:
    """`ConfigError` unless ``architecture`` makes images of ``ds.aspect``."""
    if base_shape(ds) != (4, 4) and architecture not in NON_SQUARE:
        raise ConfigError(
            f"dataset.aspect={ds.aspect!r}: non-square images are made by {' and '.join(NON_SQUARE)}; "
            f"model.architecture={architecture!r} makes square ones (aspect '1:1')"
        )


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for a dataset field that cannot work."""
    ds = config.dataset
    check_aspect(ds, config.model.architecture)
    if ds.channels not in (1, 3):
        raise ConfigError(f"dataset.channels={ds.channels} must be 1 or 3")
    if ds.bad_images not in ("fail", "skip"):
        raise ConfigError(f"dataset.bad_images={ds.bad_images!r} must be 'fail' or 'skip'")
    if ds.resize not in ("pad", "resize"):
        raise ConfigError(f"dataset.resize={ds.resize!r} must be 'pad' or 'resize'")
    if ds.workers < 0:
        raise ConfigError(f"dataset.workers={ds.workers} must be >= 0 (0: read in the prefetch thread)")
    if ds.max_examples < 0:
        raise ConfigError(f"dataset.max_examples={ds.max_examples} must be >= 0 (0: every example)")
