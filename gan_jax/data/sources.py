"""Dataset sources: each turns a place on disk (or a tfds name) into a dataset to train on.

What a dataset is (the contract `gan_jax.data.pipeline` reads through, for every source):

* ``len(dataset)``: N examples; ``labels``: int32 (N,); ``num_classes``; ``description``;
* ``read(indices) -> uint8 (n, R, R, C)``: those examples' images at the config's
  resolution and channel count, in the order asked, as a new array;
* ``in_memory``: True for an `ImageDataset` (the images are one uint8 array, in memory
  or memory-mapped from ``dataset.cache_dir``; ``read`` indexes it), False for a
  `gan_jax.data.streamed.StreamedDataset` (only the labels are in memory; ``read`` fetches
  and decodes, in ``dataset.workers`` worker processes when set).

Random access by index is what makes the data order a pure function of (seed, step)
in `gan_jax.data.pipeline`.

Sources (``dataset.source``; the readers of files on disk are in `gan_jax.data.files`):

* ``packed``: a folder written by ``python -m gan_jax.tools.dataset_tool`` (`gan_jax.data.packed`):
  sharded ArrayRecord files of encoded images, streamed, never held in memory: the way
  to train on data larger than RAM, and on many hosts. Its ``dataset.json`` says the
  resolution, channels and classes; a config asking for another resolution or channel
  count is refused with one line naming both fixes (set the config's, or repack), as
  resizing on the fly would silently train on other pixels than the pack's. ``split``,
  ``resize``, ``bad_images``, ``convert_channels`` and ``cache_dir`` do not apply.
* ``tfds``: a TensorFlow Datasets name, streamed through ``tfds.data_source``
  (ArrayRecord, random access, no TensorFlow needed to read): each example decoded by
  tfds and fitted to the config's channels and resolution when read; the labels are
  read once, at load, in one pass over the split. With ``dataset.cache_dir`` the fitted
  images are written there once, a chunk at a time, and memory-mapped from then on.
  ``dataset.download=True`` lets tfds fetch and prepare it.
* ``idx``: a directory holding the IDX files MNIST-style datasets ship as
  (``train-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``, ...).
* ``folder``: a directory of images; when every image sits in a sub-folder, the
  sub-folder names (sorted) are the class labels.
* ``npz``: a NumPy archive with ``images`` (or ``x``) and optional ``labels`` (or ``y``).
* ``synthetic``: no files at all: ``max_examples`` (default 1024) images of 10 classes,
  each a soft blob at its class's place on a circle, jittered per image (`synthetic`);
  the same on every machine, for smoke runs and tests where no dataset is installed.
* ``auto``: ``path`` decides when set (a pack's folder, with ``dataset.json`` or an
  unfinished pack's ``.partial`` → packed, a file → npz, IDX files → idx, else folder);
  otherwise a well-known local copy of ``name`` (Debian's Fashion-MNIST package),
  otherwise tfds.

idx, folder, npz and synthetic are decoded into memory at load (with ``cache_dir``,
once). Then ``dataset.classes`` keeps only the examples of the listed labels (labels
unchanged: fine-tuning onto one class, docs/fine_tuning.md) and ``max_examples`` the
first N, for every source.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import threading
from typing import ClassVar

import ml_collections
import numpy as np
from absl import logging

from gan_jax.config.dataset import image_shape
from gan_jax.data import packed
from gan_jax.data import streamed
from gan_jax.errors import DataError
from gan_jax.data.files import (  # noqa: F401 (read_idx, as datasets.read_idx)
    fit_channels,
    fit_resolution,
    has_idx_files,
    height_width,
    list_images,
    load_folder,
    load_idx,
    load_npz,
    read_idx,
)

SOURCES = ("auto", "packed", "tfds", "idx", "folder", "npz", "synthetic")
SYNTHETIC_EXAMPLES = 1024  # source="synthetic" with max_examples=0

# Local copies installed by OS packages, tried by source='auto' before tfds.
KNOWN_LOCAL = {
    "fashion_mnist": ["/usr/share/datasets/fashion-mnist"],
    "mnist": ["/usr/share/datasets/mnist"],
}


@dataclasses.dataclass(frozen=True)
class ImageDataset:
    """A dataset whose images are one uint8 array (in memory, or memory-mapped)."""

    images: np.ndarray  # uint8 (N, R, R, C)
    labels: np.ndarray  # int32 (N,)
    num_classes: int
    description: str
    in_memory: ClassVar[bool] = True

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices) -> np.ndarray:
        """uint8 (n, R, R, C): the images at ``indices``, in their order (a new array)."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        flat = np.sort(indices)  # sorted reads are kinder to memory-mapped arrays
        return np.asarray(self.images[flat])[np.searchsorted(flat, indices)]


# ----------------------------------------------------------------------------
# TensorFlow Datasets


# Most tfds datasets are served from Google Cloud Storage. Probing it first turns "no
# network" into an error within seconds instead of minutes of urllib3 retries.
_TFDS_DOWNLOAD_HOST = "storage.googleapis.com"


def can_reach(host: str, port: int = 443, timeout: float = 5.0) -> bool:
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
    return (
        f" (on Debian, `apt-get install {DEBIAN_PACKAGES[name]}` installs it in "
        f"{KNOWN_LOCAL[name][0]}, which source='auto' finds)"
    )


def open_tfds(name: str, split: str, data_dir: str, download: bool) -> tuple:
    """(data source, image key, label key or None, number of classes or 0) of a tfds split,
    prepared as ArrayRecord; `DataError` with the options when it is not there."""
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
                f"data, dataset.source=synthetic"
            ) from None
        if not can_reach(_TFDS_DOWNLOAD_HOST):
            raise DataError(
                f"tfds dataset {name!r} is not prepared in {builder.data_dir} and this machine "
                f"cannot reach {_TFDS_DOWNLOAD_HOST} to download it. Options: prepare it on a "
                f"machine with internet and copy the data_dir; or point dataset.source=idx|folder|npz "
                f"and dataset.path at a local copy{_local_hint(name)}; or, for a smoke run with "
                f"no data, dataset.source=synthetic"
            ) from None
        logging.info("tfds: downloading and preparing %s into %s", name, builder.data_dir)
        builder.download_and_prepare(file_format="array_record")
        source = builder.as_data_source(split=split)
    features = builder.info.features
    image_key = (
        "image"
        if "image" in features
        else next(k for k, f in features.items() if isinstance(f, tfds.features.Image))
    )
    label_key = "label" if "label" in features else None
    num_classes = features[label_key].num_classes if label_key else 0
    return source, image_key, label_key, num_classes


def stream_tfds(ds: ml_collections.ConfigDict) -> streamed.StreamedDataset:
    """``config.dataset``'s tfds split as a `StreamedDataset` (its ``classes`` and
    ``max_examples`` applied); only the labels are read now."""
    source, image_key, label_key, num_classes = open_tfds(ds.name, ds.split, ds.data_dir, ds.download)
    count = len(source) if ds.classes or not ds.max_examples else min(len(source), ds.max_examples)
    labels = streamed.tfds_labels(source, label_key, count)
    if num_classes == 0 and len(labels):
        num_classes = int(labels.max()) + 1
    images = streamed.TfdsImages(source, image_key, image_shape(ds), ds.channels, ds.resize)
    whole = streamed.StreamedDataset(images, labels, num_classes, f"tfds {ds.name}:{ds.split}")
    return streamed.select(whole, ds.classes, ds.max_examples)


# ----------------------------------------------------------------------------
# Synthetic


def synthetic(n: int, resolution, channels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (N, R, R, C) (``resolution`` R, or (H, W)) and labels k = i mod 10:
    image i is the blob
    255·exp(−‖p − c_k − δᵢ‖² / (2 rᵢ²)) over pixel centres p ∈ [0, 1]², with its class's
    centre c_k = ½ + ¼(cos 2πk/10, sin 2πk/10), jitter δᵢ ~ N(0, 0.03²) per axis, radius
    rᵢ = 0.12·2^(0.2 n), n ~ N(0, 1), and a per-channel brightness in [0.6, 1]."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.int32)
    angle = 2 * np.pi * labels / 10
    centre = 0.5 + 0.25 * np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0, 0.03, (n, 2))
    radius = 0.12 * np.exp2(0.2 * rng.normal(size=n))
    gain = rng.uniform(0.6, 1.0, (n, channels))
    height, width = height_width(resolution)
    dx = (np.arange(width) + 0.5)[None, None, :] / width - centre[:, 0, None, None]
    dy = (np.arange(height) + 0.5)[None, :, None] / height - centre[:, 1, None, None]
    blob = np.exp(-(dx**2 + dy**2) / (2 * radius[:, None, None] ** 2))
    images = 255 * blob[..., None] * gain[:, None, None, :]
    return np.round(images).astype(np.uint8), labels


# ----------------------------------------------------------------------------
# Entry point


def resolve_source(ds: ml_collections.ConfigDict) -> tuple[str, str]:
    """(source, path) after resolving source='auto'."""
    if ds.source not in SOURCES:
        raise DataError(f"dataset.source={ds.source!r} is not one of {SOURCES}")
    if ds.source != "auto":
        if ds.source == "folder" and ds.path and is_pack(ds.path):
            raise DataError(
                f"dataset.path={ds.path!r} is a packed dataset: set --config.dataset.source=packed (or auto)"
            )
        return ds.source, ds.path
    if ds.path:
        if is_pack(ds.path):
            return "packed", ds.path
        if os.path.isfile(ds.path):
            return "npz", ds.path
        if not os.path.isdir(ds.path):
            raise DataError(f"dataset.path={ds.path!r} does not exist")
        return ("idx" if has_idx_files(ds.path) else "folder"), ds.path
    for candidate in KNOWN_LOCAL.get(ds.name, []):
        if os.path.isdir(candidate) and has_idx_files(candidate):
            return "idx", candidate
    return "tfds", ""


def is_pack(path: str) -> bool:
    """Whether ``path`` is a folder the dataset tool wrote, finished or not."""
    return os.path.isfile(os.path.join(path, packed.INFO_FILE)) or os.path.isdir(
        os.path.join(path, ".partial")
    )


def _source_fingerprint(source: str, path: str) -> list:
    """Names, sizes and modification times of the files a local source reads, so that a
    cache is not reused after images are added, removed or replaced."""
    if source == "folder" and os.path.isdir(path):
        files = list_images(path)
    elif source == "idx" and os.path.isdir(path):
        files = sorted(os.path.join(path, n) for n in os.listdir(path))
    elif path and os.path.isfile(path):
        files = [path]
    else:
        return []
    out = []
    for f in files:
        st = os.stat(f)
        out.append([os.path.relpath(f, path) if os.path.isdir(path) else "", st.st_size, st.st_mtime_ns])
    return out


def _cache_key(ds: ml_collections.ConfigDict, source: str, path: str) -> str:
    spec = dict(
        source=source,
        path=os.path.abspath(path) if path else "",
        name=ds.name,
        files=_source_fingerprint(source, path),
        split=ds.split,
        resolution=ds.resolution,
        channels=ds.channels,
        resize=ds.resize,
        max_examples=ds.max_examples,
        bad_images=ds.bad_images,
        convert_channels=ds.convert_channels,
    )
    if ds.classes:  # only when set, so the existing caches keep their names
        spec["classes"] = sorted(int(c) for c in ds.classes)
    if image_shape(ds) != (ds.resolution, ds.resolution):  # likewise
        spec["shape"] = list(image_shape(ds))
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"{ds.name}-{ds.split}-{ds.resolution}px-{ds.channels}c-{digest}"


def _write_cache(cache: str, dataset, chunk: int = 1024) -> None:
    """Writes ``dataset`` (its images read ``chunk`` at a time, so a streamed one is never
    whole in memory) into a temporary folder renamed into place, so a reader never sees
    half a cache."""
    tmp = f"{cache}.tmp{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    first = dataset.read(np.arange(min(len(dataset), chunk)))
    images = np.lib.format.open_memmap(
        os.path.join(tmp, "images.npy"), "w+", np.uint8, (len(dataset), *first.shape[1:])
    )
    images[: len(first)] = first
    for start in range(len(first), len(dataset), chunk):
        images[start : start + chunk] = dataset.read(np.arange(start, min(len(dataset), start + chunk)))
    images.flush()
    del images
    np.save(os.path.join(tmp, "labels.npy"), dataset.labels)
    with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump({"num_classes": dataset.num_classes, "description": dataset.description}, f)
    try:
        os.replace(tmp, cache)
    except OSError:  # another process won the race; its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)


def _read_cache(cache: str) -> ImageDataset:
    """The cache `_write_cache` wrote, its images memory-mapped."""
    with open(os.path.join(cache, "meta.json")) as f:
        meta = json.load(f)
    return ImageDataset(
        np.load(os.path.join(cache, "images.npy"), mmap_mode="r"),
        np.load(os.path.join(cache, "labels.npy")),
        meta["num_classes"],
        meta["description"] + " (cached)",
    )


def load_packed(ds: ml_collections.ConfigDict, path: str) -> streamed.StreamedDataset:
    """The pack in ``path`` as a `StreamedDataset` (``dataset.classes`` and ``max_examples``
    applied); `DataError` when its resolution or channels are not the config's."""
    pack = packed.open_packed(path)
    if pack.shape != image_shape(ds) and (pack.resolution, pack.channels) == (ds.resolution, ds.channels):
        (ph, pw), (h, w) = pack.shape, image_shape(ds)
        raise DataError(
            f"{path} holds {ph}x{pw} images (height x width) but the config asks for {h}x{w} "
            f"(dataset.aspect={ds.aspect!r}): set dataset.aspect to the pack's, or repack it with "
            f"--aspect {ds.aspect}"
        )
    if (pack.resolution, pack.channels) != (ds.resolution, ds.channels):
        r, c = pack.resolution, pack.channels
        raise DataError(
            f"{path} is packed at {r}x{r}x{c} but the config asks for "
            f"{ds.resolution}x{ds.resolution}x{ds.channels}: set --config.dataset.resolution={r} "
            f"--config.dataset.channels={c}, or repack it with --resolution {ds.resolution} "
            f"--channels {ds.channels}"
        )
    num_classes = pack.num_classes or (int(pack.labels.max()) + 1 if len(pack) else 0)
    whole = streamed.StreamedDataset(pack, pack.labels, num_classes, f"packed {path}")
    return streamed.select(whole, ds.classes, ds.max_examples)


def load_dataset(ds: ml_collections.ConfigDict) -> ImageDataset | streamed.StreamedDataset:
    """``config.dataset`` as a dataset at its resolution and channels (the module
    docstring says which kind each source gives)."""
    source, path = resolve_source(ds)
    if source in ("idx", "folder", "npz", "packed") and not path:
        raise DataError(f"dataset.source={source!r} needs dataset.path")
    if source == "packed":
        return _non_empty(load_packed(ds, path))
    if ds.cache_dir and os.path.exists(ds.cache_dir) and not os.path.isdir(ds.cache_dir):
        raise DataError(f"dataset.cache_dir={ds.cache_dir!r} is a file, not a folder")
    cache = os.path.join(ds.cache_dir, _cache_key(ds, source, path)) if ds.cache_dir else ""
    if cache and os.path.exists(os.path.join(cache, "meta.json")):
        return _read_cache(cache)
    if source == "tfds":
        dataset = _non_empty(stream_tfds(ds))
        if not cache:
            return dataset
        _write_cache(cache, dataset)
        return _read_cache(cache)
    dataset = _non_empty(load_in_memory(ds, source, path))
    if cache:
        _write_cache(cache, dataset)
    return dataset


def _non_empty(dataset):
    if len(dataset) == 0:
        raise DataError(f"{dataset.description} holds no examples")
    return dataset


def load_in_memory(ds: ml_collections.ConfigDict, source: str, path: str) -> ImageDataset:
    """An idx, folder, npz or synthetic source decoded into one array, ``dataset.classes``
    and ``max_examples`` applied, fitted to the config's channels and resolution."""
    num_classes = 0
    if source == "idx":
        if not os.path.isdir(path):
            raise DataError(f"IDX directory {path!r} does not exist")
        images, labels, where = load_idx(path, ds.split)
        description = f"IDX {where}"
    elif source == "folder":
        images, labels, num_classes = load_folder(
            path, image_shape(ds), ds.channels, ds.resize, ds.max_examples, ds.bad_images, ds.convert_channels
        )
        description = f"image folder {path}"
    elif source == "npz":
        images, labels = load_npz(path)
        description = f"npz {path}"
    else:
        images, labels = synthetic(ds.max_examples or SYNTHETIC_EXAMPLES, image_shape(ds), ds.channels)
        description = f"synthetic blobs ({len(images)} examples, 10 classes)"
    num_classes = num_classes or int(labels.max()) + 1 if len(labels) else num_classes
    if ds.classes:  # a subset of the classes, labels unchanged (a conditional model keeps its classes)
        keep = np.isin(labels, np.asarray(ds.classes, np.int64))
        images, labels = images[keep], labels[keep]
        description += f", classes {','.join(str(c) for c in ds.classes)}"
    if ds.max_examples:
        images, labels = images[: ds.max_examples], labels[: ds.max_examples]
    if len(images):
        images = fit_resolution(fit_channels(images, ds.channels), image_shape(ds), ds.resize)
    return ImageDataset(np.ascontiguousarray(images), labels.astype(np.int32), num_classes, description)
