"""Dataset sources: each turns a place on disk (or a tfds name) into uint8 arrays.

Every source yields an `ImageDataset`: ``images`` uint8 ``(N, R, R, C)`` at the
config's resolution and channel count, ``labels`` int32 ``(N,)``. Holding the whole
split as one random-access array (memory-mapped from ``dataset.cache_dir`` when set)
is what makes the data order a pure function of (seed, step) in `gan_jax.data`.

Sources (``dataset.source``):

* ``tfds``: a TensorFlow Datasets name, read through ``tfds.data_source`` (ArrayRecord,
  random access, no TensorFlow needed to read). ``dataset.download=True`` lets tfds
  fetch and prepare it.
* ``idx``: a directory holding the IDX files MNIST-style datasets ship as
  (``train-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``, ...).
* ``folder``: a directory of images; when every image sits in a sub-folder, the
  sub-folder names (sorted) are the class labels.
* ``npz``: a NumPy archive with ``images`` (or ``x``) and optional ``labels`` (or ``y``).
* ``synthetic``: no files at all: ``max_examples`` (default 1024) images of 10 classes,
  each a soft blob at its class's place on a circle, jittered per image (`synthetic`);
  the same on every machine, for smoke runs and tests where no dataset is installed.
* ``auto``: ``path`` decides when set (a file → npz, IDX files → idx, else folder);
  otherwise a well-known local copy of ``name`` (Debian's Fashion-MNIST package),
  otherwise tfds.
"""

import dataclasses
import glob
import gzip
import hashlib
import json
import os
import shutil
import socket
import threading
import zipfile

import ml_collections
import numpy as np
from absl import logging
from PIL import Image

from gan_jax.errors import DataError

SOURCES = ("auto", "tfds", "idx", "folder", "npz", "synthetic")
SYNTHETIC_EXAMPLES = 1024  # source="synthetic" with max_examples=0
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")

# Local copies installed by OS packages, tried by source='auto' before tfds.
KNOWN_LOCAL = {
    "fashion_mnist": ["/usr/share/datasets/fashion-mnist"],
    "mnist": ["/usr/share/datasets/mnist"],
}


@dataclasses.dataclass(frozen=True)
class ImageDataset:
    images: np.ndarray  # uint8 (N, R, R, C)
    labels: np.ndarray  # int32 (N,)
    num_classes: int
    description: str

    def __len__(self) -> int:
        return len(self.images)


# ----------------------------------------------------------------------------
# IDX (LeCun et al.'s MNIST format)

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (optionally gzipped): magic 0 0 <type> <ndim>, big-endian dims, data."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    offset = 4 + 4 * ndim
    if len(raw) - offset != expected:
        raise DataError(f"{path}: header says {dims} ({expected} bytes) but holds {len(raw) - offset}")
    return np.frombuffer(raw, dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx(directory: str, split: str, kind: str) -> str | None:
    prefixes = {"train": ("train",), "test": ("t10k", "test")}.get(split, (split,))
    ndim = 3 if kind == "images" else 1
    for prefix in prefixes:
        hits = sorted(glob.glob(os.path.join(directory, f"*{prefix}*{kind}*idx{ndim}*")))
        if hits:
            return hits[0]
    return None


def has_idx_files(directory: str) -> bool:
    return bool(glob.glob(os.path.join(directory, "*idx3*")))


def load_idx(directory: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    images_path = _find_idx(directory, split, "images")
    if images_path is None:
        raise DataError(f"no IDX images for split {split!r} in {directory} "
                        f"(expected e.g. train-images-idx3-ubyte.gz or t10k-images-idx3-ubyte.gz)")
    images = read_idx(images_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 (N, H, W) images, got {images.dtype} {images.shape}")
    labels_path = _find_idx(directory, split, "labels")
    labels = read_idx(labels_path).astype(np.int32) if labels_path else np.zeros(len(images), np.int32)
    if len(labels) != len(images):
        raise DataError(f"{labels_path} has {len(labels)} labels for {len(images)} images")
    return images[..., None], labels, images_path


# ----------------------------------------------------------------------------
# Image folders and npz


def _list_images(directory: str) -> list[str]:
    """Image files under ``directory``, symbolic links followed; a folder reached again
    through a link (a loop, or two links to one folder) is read once."""
    files, seen = [], set()
    for root, dirs, names in os.walk(directory, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        files += [os.path.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(files)


# Channels an image has before any conversion, by PIL mode (palette images are colour).
_MODE_CHANNELS = {"1": 1, "L": 1, "I": 1, "I;16": 1, "F": 1, "LA": 2, "La": 2, "P": 3, "RGB": 3,
                  "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "CMYK": 4}


def _decode(path: str, channels: int, convert_channels: bool) -> np.ndarray:
    """(H, W, channels) uint8; `DataError` if the file cannot be decoded, or has another
    channel count and ``convert_channels`` is off."""
    try:
        with Image.open(path) as im:
            have = _MODE_CHANNELS.get(im.mode, len(im.getbands()))
            if have != channels and not convert_channels:
                raise DataError(f"{path} has {have} channels ({im.mode}), dataset.channels={channels}")
            if im.mode.startswith("I;16") or im.mode == "I":  # 16-bit grey: scale, not clip
                wide = np.asarray(im).astype(np.float64)
                arr = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
                if channels == 3:
                    arr = np.repeat(arr[..., None], 3, axis=-1)
            else:
                arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot decode image {path}: {e}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def load_folder(directory: str, resolution: int, channels: int, mode: str, max_examples: int,
                bad_images: str = "fail", convert_channels: bool = False
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Every image under ``directory``; labels from sub-folders when all images have one.

    An image that cannot be decoded, or has another channel count than ``channels`` (unless
    ``convert_channels``: grey ↔ RGB, alpha dropped), stops loading with the file named when
    ``bad_images='fail'``, or is left out with one warning counting them when ``'skip'``.
    """
    if not os.path.isdir(directory):
        raise DataError(f"image folder {directory!r} does not exist")
    files = _list_images(directory)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {directory}")
    if max_examples:
        files = files[:max_examples]
    images, kept, bad = [], [], []
    for f in files:
        try:
            try:
                images.append(fit_resolution(_decode(f, channels, convert_channels)[None],
                                             resolution, mode)[0])
            except DataError as e:
                raise DataError(str(e) if f in str(e) else f"{f}: {e}") from None
            kept.append(f)
        except DataError as e:
            if bad_images == "fail":
                wrong_channels = "channels (" in str(e)
                raise DataError(f"{e}; set --config.dataset.bad_images=skip to leave such files out"
                                + (" or --config.dataset.convert_channels=True to convert them"
                                   if wrong_channels else "")) from None
            bad.append(f"{e}")
    if bad:
        logging.warning("left out %d of %d images under %s that could not be used, e.g. %s",
                        len(bad), len(files), directory, "; ".join(bad[:3]))
    if not kept:
        raise DataError(f"none of the {len(files)} images under {directory} could be used, e.g. {bad[0]}")
    relative = [os.path.relpath(f, directory) for f in kept]
    stray = [r for r in relative if os.sep not in r]
    if stray and len(stray) < len(relative):
        raise DataError(f"{len(stray)} image(s) at the top of {directory} (e.g. {stray[0]}) beside "
                        f"{len(relative) - len(stray)} in sub-folders: labels come from sub-folders, "
                        f"so move them into a class folder, or remove them")
    if all(os.sep in r for r in relative):
        classes = sorted({r.split(os.sep)[0] for r in relative})
        labels = np.array([classes.index(r.split(os.sep)[0]) for r in relative], np.int32)
    else:
        classes, labels = [], np.zeros(len(kept), np.int32)
    return np.stack(images), labels, len(classes)


def load_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            key = next((k for k in ("images", "x", "image") if k in f), None)
            if key is None:
                raise DataError(f"{path} has no 'images' (or 'x') array; it holds {sorted(f.keys())}")
            images = f[key]
            lkey = next((k for k in ("labels", "y", "label") if k in f), None)
            labels = f[lkey].astype(np.int32) if lkey else np.zeros(len(images), np.int32)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"{path} holds Python objects (an object array), which gan_jax never "
                            f"unpickles; save plain uint8 images and int labels") from None
        raise DataError(f"cannot read {path}: {e}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {path} (truncated or not an .npz?): {e}") from None
    if len(labels) != len(images):
        raise DataError(f"{path} has {len(labels)} labels for {len(images)} images")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8:
        raise DataError(f"{path}: images must be uint8 (N, H, W[, C]); got {images.dtype} {images.shape}")
    return images, labels


# ----------------------------------------------------------------------------
# TensorFlow Datasets


# Most tfds datasets are served from Google Cloud Storage. Probing it first turns "no
# network" into an error within seconds instead of minutes of urllib3 retries.
_TFDS_DOWNLOAD_HOST = "storage.googleapis.com"


def _can_reach(host: str, port: int = 443, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds (DNS included)."""
    result: list[bool] = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo ignores socket timeouts
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


DEBIAN_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}  # installs KNOWN_LOCAL's copy


def _local_hint(name: str) -> str:
    """Where a Debian package installs ``name``'s files, as an option in an error."""
    if name not in DEBIAN_PACKAGES:
        return ""
    return (f" (on Debian, `apt-get install {DEBIAN_PACKAGES[name]}` installs it in "
            f"{KNOWN_LOCAL[name][0]}, which source='auto' finds)")


def load_tfds(name: str, split: str, data_dir: str, download: bool) -> tuple[np.ndarray, np.ndarray, int]:
    import tensorflow_datasets as tfds  # heavy import, only when used

    try:
        builder = tfds.builder(name, data_dir=data_dir or None, file_format="array_record")
    except tfds.core.registered.DatasetNotFoundError:
        raise DataError(f"tfds has no dataset named {name!r}; see tfds.list_builders()") from None
    try:
        source = builder.as_data_source(split=split)
    except (KeyError, FileNotFoundError, ValueError, AssertionError) as e:
        if not download:
            raise DataError(
                f"tfds dataset {name!r} split {split!r} is not prepared in "
                f"{builder.data_dir} ({type(e).__name__}). Options: set dataset.download=True to "
                f"let tfds fetch it (needs internet); or point dataset.source=idx|folder|npz and "
                f"dataset.path at a local copy{_local_hint(name)}; or, for a smoke run with no "
                f"data, dataset.source=synthetic") from None
        if not _can_reach(_TFDS_DOWNLOAD_HOST):
            raise DataError(
                f"tfds dataset {name!r} is not prepared in {builder.data_dir} and this machine "
                f"cannot reach {_TFDS_DOWNLOAD_HOST} to download it. Options: prepare it on a "
                f"machine with internet and copy the data_dir; or point dataset.source=idx|folder|npz "
                f"and dataset.path at a local copy{_local_hint(name)}; or, for a smoke run with "
                f"no data, dataset.source=synthetic") from None
        logging.info("tfds: downloading and preparing %s into %s", name, builder.data_dir)
        builder.download_and_prepare(file_format="array_record")
        source = builder.as_data_source(split=split)
    features = builder.info.features
    image_key = "image" if "image" in features else next(
        k for k, f in features.items() if isinstance(f, tfds.features.Image))
    label_key = "label" if "label" in features else None
    records = [source[i] for i in range(len(source))]
    images = np.stack([r[image_key] for r in records]).astype(np.uint8)
    labels = (np.array([r[label_key] for r in records], np.int32) if label_key
              else np.zeros(len(records), np.int32))
    num_classes = features[label_key].num_classes if label_key else 0
    return images, labels, num_classes


# ----------------------------------------------------------------------------
# Shape: resolution and channels


def fit_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Grey → RGB by replication; RGB → grey by ITU-R 601 luma (what PIL's 'L' uses)."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if have in (3, 4) and channels == 1:
        luma = images[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
    raise DataError(f"cannot turn {have}-channel images into {channels}-channel ones")


def fit_resolution(images: np.ndarray, resolution: int, mode: str) -> np.ndarray:
    """(N, H, W, C) → (N, R, R, C): 'pad' centres smaller images on black; 'resize'
    centre-crops to a square and resamples bilinearly (antialiased when shrinking)."""
    n, h, w, c = images.shape
    if (h, w) == (resolution, resolution):
        return images
    if mode == "pad":
        if h > resolution or w > resolution:
            raise DataError(f"cannot pad {h}x{w} images to {resolution}x{resolution}; "
                            f"set dataset.resize='resize'")
        top, left = (resolution - h) // 2, (resolution - w) // 2
        out = np.zeros((n, resolution, resolution, c), np.uint8)
        out[:, top:top + h, left:left + w] = images
        return out
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    out = np.empty((n, resolution, resolution, c), np.uint8)
    for i in range(n):
        crop = images[i, top:top + side, left:left + side]
        im = Image.fromarray(crop[..., 0] if c == 1 else crop)
        im = im.resize((resolution, resolution), Image.BILINEAR)
        out[i] = np.asarray(im).reshape(resolution, resolution, c)
    return out


def synthetic(n: int, resolution: int, channels: int, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (N, R, R, C) and labels k = i mod 10: image i is the blob
    255·exp(−‖p − c_k − δᵢ‖² / (2 rᵢ²)) over pixel centres p ∈ [0, 1]², with its class's
    centre c_k = ½ + ¼(cos 2πk/10, sin 2πk/10), jitter δᵢ ~ N(0, 0.03²) per axis, radius
    rᵢ = 0.12·2^(0.2 n), n ~ N(0, 1), and a per-channel brightness in [0.6, 1]."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.int32)
    angle = 2 * np.pi * labels / 10
    centre = 0.5 + 0.25 * np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0, 0.03, (n, 2))
    radius = 0.12 * np.exp2(0.2 * rng.normal(size=n))
    gain = rng.uniform(0.6, 1.0, (n, channels))
    grid = (np.arange(resolution) + 0.5) / resolution
    dx = grid[None, None, :] - centre[:, 0, None, None]
    dy = grid[None, :, None] - centre[:, 1, None, None]
    blob = np.exp(-(dx ** 2 + dy ** 2) / (2 * radius[:, None, None] ** 2))
    images = 255 * blob[..., None] * gain[:, None, None, :]
    return np.round(images).astype(np.uint8), labels


# ----------------------------------------------------------------------------
# Entry point


def resolve_source(ds: ml_collections.ConfigDict) -> tuple[str, str]:
    """(source, path) after resolving source='auto'."""
    if ds.source not in SOURCES:
        raise DataError(f"dataset.source={ds.source!r} is not one of {SOURCES}")
    if ds.source != "auto":
        return ds.source, ds.path
    if ds.path:
        if os.path.isfile(ds.path):
            return "npz", ds.path
        if not os.path.isdir(ds.path):
            raise DataError(f"dataset.path={ds.path!r} does not exist")
        return ("idx" if has_idx_files(ds.path) else "folder"), ds.path
    for candidate in KNOWN_LOCAL.get(ds.name, []):
        if os.path.isdir(candidate) and has_idx_files(candidate):
            return "idx", candidate
    return "tfds", ""


def _source_fingerprint(source: str, path: str) -> list:
    """Names, sizes and modification times of the files a local source reads, so that a
    cache is not reused after images are added, removed or replaced."""
    if source == "folder" and os.path.isdir(path):
        files = _list_images(path)
    elif source == "idx" and os.path.isdir(path):
        files = sorted(os.path.join(path, n) for n in os.listdir(path))
    elif path and os.path.isfile(path):
        files = [path]
    else:
        return []
    out = []
    for f in files:
        st = os.stat(f)
        out.append([os.path.relpath(f, path) if os.path.isdir(path) else "", st.st_size,
                    st.st_mtime_ns])
    return out


def _cache_key(ds: ml_collections.ConfigDict, source: str, path: str) -> str:
    spec = dict(source=source, path=os.path.abspath(path) if path else "", name=ds.name,
                files=_source_fingerprint(source, path),
                split=ds.split, resolution=ds.resolution, channels=ds.channels,
                resize=ds.resize, max_examples=ds.max_examples, bad_images=ds.bad_images,
                convert_channels=ds.convert_channels)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"{ds.name}-{ds.split}-{ds.resolution}px-{ds.channels}c-{digest}"


def _write_cache(cache: str, images, labels, num_classes: int, description: str) -> None:
    """Writes into a temporary folder renamed into place, so a reader never sees half a cache."""
    tmp = f"{cache}.tmp{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    np.save(os.path.join(tmp, "images.npy"), images)
    np.save(os.path.join(tmp, "labels.npy"), labels)
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"num_classes": num_classes, "description": description}, f)
    try:
        os.replace(tmp, cache)
    except OSError:  # another process won the race; its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)


def load_dataset(ds: ml_collections.ConfigDict) -> ImageDataset:
    """Reads ``config.dataset`` into an `ImageDataset` at its resolution and channels."""
    source, path = resolve_source(ds)
    if source in ("idx", "folder", "npz") and not path:
        raise DataError(f"dataset.source={source!r} needs dataset.path")
    if ds.cache_dir and os.path.exists(ds.cache_dir) and not os.path.isdir(ds.cache_dir):
        raise DataError(f"dataset.cache_dir={ds.cache_dir!r} is a file, not a folder")
    cache = os.path.join(ds.cache_dir, _cache_key(ds, source, path)) if ds.cache_dir else ""
    if cache and os.path.exists(os.path.join(cache, "meta.json")):
        with open(os.path.join(cache, "meta.json")) as f:
            meta = json.load(f)
        return ImageDataset(np.load(os.path.join(cache, "images.npy"), mmap_mode="r"),
                            np.load(os.path.join(cache, "labels.npy")), meta["num_classes"],
                            meta["description"] + " (cached)")

    num_classes = 0
    if source == "idx":
        if not os.path.isdir(path):
            raise DataError(f"IDX directory {path!r} does not exist")
        images, labels, where = load_idx(path, ds.split)
        description = f"IDX {where}"
    elif source == "folder":
        images, labels, num_classes = load_folder(path, ds.resolution, ds.channels, ds.resize,
                                                  ds.max_examples, ds.bad_images, ds.convert_channels)
        description = f"image folder {path}"
    elif source == "npz":
        images, labels = load_npz(path)
        description = f"npz {path}"
    elif source == "synthetic":
        images, labels = synthetic(ds.max_examples or SYNTHETIC_EXAMPLES, ds.resolution,
                                   ds.channels)
        description = f"synthetic blobs ({len(images)} examples, 10 classes)"
    else:
        images, labels, num_classes = load_tfds(ds.name, ds.split, ds.data_dir, ds.download)
        description = f"tfds {ds.name}:{ds.split}"
    if ds.max_examples:
        images, labels = images[:ds.max_examples], labels[:ds.max_examples]
    if len(images) == 0:
        raise DataError(f"{description} holds no examples")
    images = fit_resolution(fit_channels(images, ds.channels), ds.resolution, ds.resize)
    num_classes = num_classes or int(labels.max()) + 1
    if cache:
        _write_cache(cache, images, labels, num_classes, description)
    return ImageDataset(np.ascontiguousarray(images), labels.astype(np.int32), num_classes, description)
