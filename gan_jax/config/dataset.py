"""``dataset``: which images a run reads and how they reach the step.

dataset.*            source, name, path, split, resolution, channels, resize, classes,
                     max_examples, ...: see `gan_jax.data.sources`; mirror, workers, prefetch:
                     see `gan_jax.data.pipeline`
"""

import ml_collections

from gan_jax.errors import ConfigError


def section() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            name="fashion_mnist",  # tfds name, and the key for well-known local copies
            source="auto",  # 'auto' | 'packed' | 'tfds' | 'idx' | 'folder' | 'npz' | 'synthetic'
            path="",  # directory or file for the local sources (a pack's folder: source 'packed')
            split="train",
            resolution=28,
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


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for a dataset field that cannot work."""
    ds = config.dataset
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
