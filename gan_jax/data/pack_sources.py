"""What `gan_jax.tools.dataset_tool` packs: a source's examples, in order, as small tasks.

`open_source(spec)` reads a source's listing (not its images): a folder of images
(labels from sub-folders, `image_files.folder_labels`), a ``.zip`` of one, an IDX
directory, an ``.npz``, ``tfds:NAME[:SPLIT]``, or ``synthetic:COUNT:RESOLUTION[:CHANNELS]``
(generated blobs of 10 classes, each made from its index in a worker: data of any size
for tests and benchmarks, `synthetic_image`). Its ``tasks(start, stop)`` yields the
examples [start, stop) one at a time as `Task`s: a file path, a zip member's bytes, or a
decoded image (IDX, npz, tfds through ``tfds.data_source``, never the whole split), each
small enough to hand to a worker process. `task_image` decodes a task (in the worker).
"""

import dataclasses
import hashlib
import io
import json
import os
import zipfile
import zlib
from typing import Callable, Iterator, NamedTuple

import numpy as np
from PIL import Image

from gan_jax.errors import DataError
from gan_jax.data.files import (
    IMAGE_EXTENSIONS,
    decode_image,
    fit_channels,
    folder_labels,
    has_idx_files,
    list_images,
    load_idx,
    load_npz,
    not_a_file,
)


class Task(NamedTuple):
    """One example to prepare: ``payload`` is a path ('file'), encoded bytes ('bytes') or
    a uint8 (H, W, C) array ('array'); ``name`` names it in messages."""

    index: int
    name: str
    label: int
    kind: str
    payload: object


@dataclasses.dataclass(frozen=True)
class Source:
    """A source's listing: ``count`` examples, their classes, and how to enumerate them."""

    description: str
    count: int
    num_classes: int
    class_names: list[str]
    channels: int  # of its images, used when --channels is not given
    fingerprint: str  # sha256 of what identifies its contents (names, sizes, times)
    tasks: Callable[[int, int], Iterator[Task]]


def _file_stamp(path: str, name: str = "") -> list:
    try:
        st = os.stat(path)
    except OSError:  # a dangling link: its own stamp (packing it fails or skips it by name)
        st = os.lstat(path)
    return [name or os.path.abspath(path), st.st_size, st.st_mtime_ns]


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def _file_channels(path: str, data: bytes | None = None) -> int:
    """1 for a grey image file (with or without alpha), else 3; 3 if it cannot be read."""
    if data is None and not_a_file(path):
        return 3
    try:
        with Image.open(path if data is None else io.BytesIO(data)) as im:
            return 1 if im.getbands()[0] in ("1", "L", "I", "F") else 3
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 3


def _channels(have: int) -> int:
    """The channels images with ``have`` channels are packed with by default: grey (with or
    without alpha) stays grey, the rest becomes RGB."""
    return 1 if have in (1, 2) else 3


def _folder(directory: str, limit: int) -> Source:
    files = list_images(directory)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {directory}")
    files = files[:limit] if limit else files
    relative = [os.path.relpath(f, directory) for f in files]
    labels, classes = folder_labels(relative, directory)

    def tasks(start: int, stop: int) -> Iterator[Task]:
        for i in range(start, stop):
            yield Task(i, files[i], int(labels[i]), "file", files[i])

    return Source(
        f"image folder {os.path.abspath(directory)}",
        len(files),
        len(classes),
        classes,
        _file_channels(next((f for f in files if not not_a_file(f)), files[0])),
        _digest([_file_stamp(f, r) for f, r in zip(files, relative)]),
        tasks,
    )


def _read_member(archive: zipfile.ZipFile, name: str) -> tuple[bytes, str | None]:
    """(bytes, None) of a zip member, or (b"", why it cannot be read): damaged deflate
    data, a failed CRC, encryption, a compression method Python lacks."""
    try:
        return archive.read(name), None
    except NotImplementedError as e:  # a RuntimeError too: caught first
        return b"", f"{e} (unsupported compression method)"
    except RuntimeError as e:  # encrypted: "File ... is encrypted, password required"
        return b"", str(e)
    except zlib.error as e:
        return b"", f"damaged compressed data ({e})"
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        return b"", f"{type(e).__name__}: {e}"


def _zip(path: str, limit: int) -> Source:
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(
                n for n in archive.namelist() if not n.endswith("/") and n.lower().endswith(IMAGE_EXTENSIONS)
            )
            first = _read_member(archive, names[0])[0] if names else b""
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read the zip {path}: {e}") from None
    if not names:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {path}")
    names = names[:limit] if limit else names
    top = names[0].split("/", 1)[0] + "/"
    relative = [n[len(top) :] for n in names] if all(n.startswith(top) for n in names) else names
    labels, classes = folder_labels(relative, path)

    def tasks(start: int, stop: int) -> Iterator[Task]:
        with zipfile.ZipFile(path) as archive:
            for i in range(start, stop):
                name = f"{path}:{names[i]}"
                data, error = _read_member(archive, names[i])
                if error:
                    yield Task(i, name, int(labels[i]), "error", f"cannot read {name}: {error}")
                else:
                    yield Task(i, name, int(labels[i]), "bytes", data)

    return Source(
        f"zip {os.path.abspath(path)}",
        len(names),
        len(classes),
        classes,
        _file_channels(names[0], first),
        _digest(_file_stamp(path)),
        tasks,
    )


def _arrays(description: str, images: np.ndarray, labels: np.ndarray, limit: int, stamps: list) -> Source:
    if len(images) == 0:
        raise DataError(f"{description} holds no images")
    count = min(len(images), limit) if limit else len(images)

    def tasks(start: int, stop: int) -> Iterator[Task]:
        for i in range(start, stop):
            yield Task(i, f"{description}[{i}]", int(labels[i]), "array", images[i])

    num_classes = int(labels.max()) + 1
    return Source(description, count, num_classes, [], _channels(images.shape[-1]), _digest(stamps), tasks)


def _tfds(spec: str, default_split: str, limit: int) -> Source:
    import tensorflow_datasets as tfds  # heavy import, only when used

    name, _, split = spec.partition(":")
    split = split or default_split
    try:
        builder = tfds.builder(name)
        source = builder.as_data_source(split=split)
    except tfds.core.registered.DatasetNotFoundError:
        raise DataError(f"tfds has no dataset named {name!r}; see tfds.list_builders()") from None
    except (KeyError, FileNotFoundError, ValueError, AssertionError) as e:
        raise DataError(
            f"tfds dataset {name!r} split {split!r} is not prepared as ArrayRecord in "
            f"{builder.data_dir} ({type(e).__name__}); prepare it first (tfds build "
            f"--file_format=array_record {name}), or set TFDS_DATA_DIR"
        ) from None
    features = builder.info.features
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    if not image_keys:
        raise DataError(f"tfds dataset {name!r} has no image feature")
    image_key = "image" if "image" in image_keys else image_keys[0]
    label_key = (
        "label" if "label" in features and isinstance(features["label"], tfds.features.ClassLabel) else None
    )
    count = min(len(source), limit) if limit else len(source)
    channels = _channels(features[image_key].shape[-1] or 3)

    def tasks(start: int, stop: int) -> Iterator[Task]:
        for i in range(start, stop):
            example = source[i]
            label = int(example[label_key]) if label_key else 0
            yield Task(i, f"tfds {name}:{split}[{i}]", label, "array", np.asarray(example[image_key]))

    names = list(features[label_key].names) if label_key else []
    stamp = [name, split, str(builder.version), str(builder.data_dir), len(source)]
    return Source(f"tfds {name}:{split}", count, len(names), names, channels, _digest(stamp), tasks)


def synthetic_image(index: int, resolution: int, channels: int) -> np.ndarray:
    """Example ``index`` of the ``synthetic:`` source, a function of its index alone: the blob
    of `gan_jax.data.sources.synthetic` (class ``index mod 10``), its jitter, radius and
    brightness drawn from a generator seeded with the index, so any worker can make any
    example and a pack of N of them needs no memory beyond one image."""
    rng = np.random.default_rng([0x5EED, index])
    angle = 2 * np.pi * (index % 10) / 10
    centre = 0.5 + 0.25 * np.array([np.cos(angle), np.sin(angle)]) + rng.normal(0, 0.03, 2)
    radius = 0.12 * np.exp2(0.2 * rng.normal())
    gain = rng.uniform(0.6, 1.0, channels)
    grid = (np.arange(resolution) + 0.5) / resolution
    blob = np.exp(-((grid[None, :] - centre[0]) ** 2 + (grid[:, None] - centre[1]) ** 2) / (2 * radius**2))
    return np.round(255 * blob[..., None] * gain).astype(np.uint8)


def _synthetic(spec: str, limit: int) -> Source:
    """``COUNT:RESOLUTION[:CHANNELS]``: generated blobs of 10 classes, made in the workers."""
    try:
        fields = [int(f) for f in spec.split(":")]
        count, resolution, channels = (fields + [3])[:3] if len(fields) in (2, 3) else (0, 0, 0)
    except ValueError:
        count = resolution = channels = 0
    if count < 1 or resolution < 1 or channels not in (1, 3):
        raise DataError(
            f"--source synthetic:{spec}: expected synthetic:COUNT:RESOLUTION[:CHANNELS], e.g. synthetic:1000:64"
        )
    count = min(count, limit) if limit else count

    def tasks(start: int, stop: int) -> Iterator[Task]:
        for i in range(start, stop):
            yield Task(i, f"synthetic[{i}]", i % 10, "synthetic", (resolution, channels))

    names = [str(k) for k in range(10)]
    description = f"synthetic blobs, {resolution}x{resolution}x{channels}"
    return Source(description, count, 10, names, channels, _digest([spec, "v1"]), tasks)


def open_source(spec: str, split: str = "train", limit: int = 0) -> Source:
    """The source ``spec`` names (see the module docstring), its first ``limit`` examples
    when ``limit`` is set; ``split`` is an IDX directory's, or tfds's when ``spec`` has none."""
    if spec.startswith("tfds:"):
        return _tfds(spec[len("tfds:") :], split, limit)
    if spec.startswith("synthetic:"):
        return _synthetic(spec[len("synthetic:") :], limit)
    if not os.path.exists(spec):
        raise DataError(f"--source {spec!r} does not exist")
    if os.path.isdir(spec):
        if has_idx_files(spec):
            images, labels, where = load_idx(spec, split)
            stamps = [_file_stamp(os.path.join(spec, n)) for n in sorted(os.listdir(spec))]
            return _arrays(f"IDX {where}", images, labels, limit, stamps)
        return _folder(spec, limit)
    if spec.lower().endswith(".zip"):
        return _zip(spec, limit)
    if spec.lower().endswith(".npz"):
        images, labels = load_npz(spec)
        return _arrays(f"npz {os.path.abspath(spec)}", images, labels, limit, _file_stamp(spec))
    raise DataError(
        f"--source {spec!r}: expected a folder of images, a .zip, an .npz, an IDX "
        f"directory or tfds:NAME[:SPLIT]"
    )


def task_image(task: Task, channels: int) -> np.ndarray:
    """(H, W, channels) uint8 of a task: files decoded (grey ↔ RGB converted, alpha
    dropped), arrays converted the same way; `DataError` naming it if it cannot be."""
    if task.kind == "error":
        raise DataError(task.payload)
    if task.kind in ("file", "bytes"):
        return decode_image(task.name, channels, True, task.payload if task.kind == "bytes" else None)
    if task.kind == "synthetic":
        resolution, native = task.payload
        return fit_channels(synthetic_image(task.index, resolution, native), channels)
    image = np.asarray(task.payload)
    image = image[..., None] if image.ndim == 2 else image
    if image.ndim != 3 or image.dtype != np.uint8:
        raise DataError(f"{task.name}: expected a uint8 (H, W, C) image, got {image.dtype} {image.shape}")
    if image.shape[-1] in (2, 4):  # drop alpha
        image = image[..., :-1]
    return fit_channels(image, channels)
