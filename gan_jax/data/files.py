"""Readers of images stored on disk in the formats datasets are distributed in: IDX files
(MNIST-style), folders of image files (labels from sub-folders) and ``.npz`` archives.
Each returns uint8 arrays; `fit_channels` and `fit_resolution` bring any source's images
to the config's channels and resolution.
"""

import glob
import gzip
import io
import os
import zipfile

import numpy as np
from absl import logging
from PIL import Image

from gan_jax.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


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
        raise DataError(
            f"no IDX images for split {split!r} in {directory} "
            f"(expected e.g. train-images-idx3-ubyte.gz or t10k-images-idx3-ubyte.gz)"
        )
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


def list_images(directory: str) -> list[str]:
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
_MODE_CHANNELS = {
    "1": 1,
    "L": 1,
    "I": 1,
    "I;16": 1,
    "F": 1,
    "LA": 2,
    "La": 2,
    "P": 3,
    "RGB": 3,
    "YCbCr": 3,
    "LAB": 3,
    "HSV": 3,
    "RGBA": 4,
    "RGBa": 4,
    "CMYK": 4,
}


def not_a_file(path: str) -> str | None:
    """Why ``path`` cannot be read as an image file (a dangling link, a FIFO, a socket, a
    device: opening a FIFO would wait forever), or None for a regular file."""
    if os.path.isfile(path):
        return None
    if os.path.islink(path) and not os.path.exists(path):
        return f"{path} is a symbolic link to a missing file"
    return f"{path} is not a regular file (a FIFO, socket, device or folder)"


def _wide_grey(im: Image.Image, path: str) -> np.ndarray:
    """uint8 of a one-channel image wider than 8 bits: 16-bit integers scaled (÷257, not
    clipped); floats (mode F) in [0, 1] scaled by 255, in [0, 255] rounded, other ranges refused."""
    wide = np.asarray(im).astype(np.float64)
    if im.mode != "F":
        return np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
    low, high = (float(wide.min()), float(wide.max())) if wide.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
        raise DataError(
            f"{path} is a floating-point image with values in [{low:g}, {high:g}]; "
            f"gan_jax reads float images in [0, 1] or [0, 255]"
        )
    return np.rint(wide * (255.0 if high <= 1.0 else 1.0)).astype(np.uint8)


def decode_image(path: str, channels: int, convert_channels: bool, data: bytes | None = None) -> np.ndarray:
    """(H, W, channels) uint8 of the image file ``path`` (or of its bytes ``data``, ``path``
    then only naming it); `DataError` if it cannot be decoded, or has another channel
    count and ``convert_channels`` is off. One-channel images wider than 8 bits: `_wide_grey`."""
    if data is None and not_a_file(path):
        raise DataError(not_a_file(path))
    try:
        with Image.open(path if data is None else io.BytesIO(data)) as im:
            have = _MODE_CHANNELS.get(im.mode, len(im.getbands()))
            if have != channels and not convert_channels:
                raise DataError(f"{path} has {have} channels ({im.mode}), dataset.channels={channels}")
            if im.mode.startswith("I;16") or im.mode in ("I", "F"):
                arr = _wide_grey(im, path)
                if channels == 3:
                    arr = np.repeat(arr[..., None], 3, axis=-1)
            else:
                arr = np.asarray(im.convert("L" if channels == 1 else "RGB"), np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot decode image {path}: {e}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def load_folder(
    directory: str,
    resolution: int,
    channels: int,
    mode: str,
    max_examples: int,
    bad_images: str = "fail",
    convert_channels: bool = False,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Every image under ``directory``; labels from sub-folders when all images have one.

    An image that cannot be decoded, or has another channel count than ``channels`` (unless
    ``convert_channels``: grey ↔ RGB, alpha dropped), stops loading with the file named when
    ``bad_images='fail'``, or is left out with one warning counting them when ``'skip'``.
    """
    if not os.path.isdir(directory):
        raise DataError(f"image folder {directory!r} does not exist")
    files = list_images(directory)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {directory}")
    if max_examples:
        files = files[:max_examples]
    images, kept, bad = [], [], []
    for f in files:
        try:
            try:
                images.append(
                    fit_resolution(decode_image(f, channels, convert_channels)[None], resolution, mode)[0]
                )
            except DataError as e:
                raise DataError(str(e) if f in str(e) else f"{f}: {e}") from None
            kept.append(f)
        except DataError as e:
            if bad_images == "fail":
                wrong_channels = "channels (" in str(e)
                raise DataError(
                    f"{e}; set --config.dataset.bad_images=skip to leave such files out"
                    + (" or --config.dataset.convert_channels=True to convert them" if wrong_channels else "")
                ) from None
            bad.append(f"{e}")
    if bad:
        logging.warning(
            "left out %d of %d images under %s that could not be used, e.g. %s",
            len(bad),
            len(files),
            directory,
            "; ".join(bad[:3]),
        )
    if not kept:
        raise DataError(f"none of the {len(files)} images under {directory} could be used, e.g. {bad[0]}")
    labels, classes = folder_labels([os.path.relpath(f, directory) for f in files], directory)
    index = {f: i for i, f in enumerate(files)}
    return np.stack(images), labels[[index[f] for f in kept]], len(classes)


def folder_labels(relative: list[str], where: str) -> tuple[np.ndarray, list[str]]:
    """(labels, class names) of images at these paths inside the folder ``where`` (``/`` or
    ``os.sep`` separated): when every image sits in a sub-folder, the index of its top
    sub-folder among their sorted names; when none does, all 0 and no classes; a
    `DataError` when only some do."""
    parts = [r.replace(os.sep, "/").split("/", 1) for r in relative]
    stray = [r for r, p in zip(relative, parts) if len(p) == 1]
    if stray and len(stray) < len(relative):
        raise DataError(
            f"{len(stray)} image(s) at the top of {where} (e.g. {stray[0]}) beside "
            f"{len(relative) - len(stray)} in sub-folders: labels come from sub-folders, "
            f"so move them into a class folder, or remove them"
        )
    if stray:
        return np.zeros(len(relative), np.int32), []
    classes = sorted({p[0] for p in parts})
    _refuse_empty_classes(where, classes)
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[p[0]] for p in parts], np.int32), classes


def _holds_an_image(folder: str) -> bool:
    return any(
        n.lower().endswith(IMAGE_EXTENSIONS)
        for _, _, names in os.walk(folder, followlinks=True)
        for n in names
    )


def _refuse_empty_classes(where: str, classes: list[str]) -> None:
    """A class folder of ``where`` (a folder; not checked in a zip) without images would
    shift the labels of every class after it: refused, as torchvision's ImageFolder does."""
    if not os.path.isdir(where):
        return
    folders = sorted(
        n for n in os.listdir(where) if not n.startswith(".") and os.path.isdir(os.path.join(where, n))
    )
    empty = [n for n in folders if n not in classes and not _holds_an_image(os.path.join(where, n))]
    if empty:
        raise DataError(
            f"class folder {os.path.join(where, empty[0])} holds no images; labels are the "
            f"indices of the sorted class folders, so every class after it would shift: add "
            f"its images or remove the folder"
        )


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
            raise DataError(
                f"{path} holds Python objects (an object array), which gan_jax never "
                f"unpickles; save plain uint8 images and int labels"
            ) from None
        raise DataError(f"cannot read {path}: {e}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {path} (truncated or not an .npz?): {e}") from None
    if len(labels) != len(images):
        raise DataError(f"{path} has {len(labels)} labels for {len(images)} images")
    if len(labels) and labels.min() < 0:
        first = int(np.argmax(labels < 0))
        raise DataError(
            f"{path}: label {int(labels[first])} at index {first}; labels are class indices, 0 or more"
        )
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.dtype != np.uint8:
        raise DataError(f"{path}: images must be uint8 (N, H, W[, C]); got {images.dtype} {images.shape}")
    return images, labels


def load_arrays(path: str) -> dict[str, np.ndarray]:
    """{name: array} of an ``.npz`` or ``.safetensors`` file (weights, state dicts); one
    `DataError` line naming the file when it is missing, a folder, or not what its name says."""
    if not path.endswith((".npz", ".safetensors")):
        raise DataError(f"{path}: expected an .npz or .safetensors state dict")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise DataError(f"{path} is not a file")
    if path.endswith(".npz") and not _starts_with(path, (b"PK\x03\x04", b"PK\x05\x06")):
        raise DataError(f"{path} is not an .npz (a zip of .npy arrays): it does not begin as a zip file")
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        from safetensors.numpy import load_file

        return load_file(path)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(
                f"{path} holds Python objects, which gan_jax never unpickles; save plain arrays"
            ) from None
        raise DataError(f"cannot read {path}: {' '.join(str(e).split())}") from None
    except Exception as e:  # noqa: BLE001 (OSError, zipfile.BadZipFile, safetensors' SafetensorError, ...)
        kind = "an .npz (a zip of .npy arrays)" if path.endswith(".npz") else "safetensors"
        raise DataError(f"cannot read {path} as {kind}: {' '.join(str(e).split())[:300]}") from None


def _starts_with(path: str, prefixes: tuple[bytes, ...]) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in prefixes


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


def height_width(size) -> tuple[int, int]:
    """(height, width) of a size given as R (an R × R square) or as (H, W)."""
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))


def _crop_to_aspect(h: int, w: int, out_h: int, out_w: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the largest centred window of aspect out_w:out_h."""
    if h * out_w > w * out_h:  # too tall: keep the width
        ch, cw = w * out_h // out_w, w
    else:
        ch, cw = h, h * out_w // out_h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def fit_resolution(images: np.ndarray, resolution, mode: str) -> np.ndarray:
    """(N, H, W, C) → (N, R_h, R_w, C), ``resolution`` R or (R_h, R_w): 'pad' centres smaller
    images on black; 'crop' cuts the centre out of larger ones (neither resamples); 'resize'
    centre-crops to the target's aspect (a square for R × R) and resamples bilinearly
    (antialiased when shrinking)."""
    n, h, w, c = images.shape
    out_h, out_w = height_width(resolution)
    if (h, w) == (out_h, out_w):
        return images
    if mode == "crop":
        if h < out_h or w < out_w:
            raise DataError(f"cannot crop {h}x{w} images to {out_h}x{out_w}; pad or resize them")
        top, left = (h - out_h) // 2, (w - out_w) // 2
        return np.ascontiguousarray(images[:, top : top + out_h, left : left + out_w])
    if mode == "pad":
        if h > out_h or w > out_w:
            raise DataError(f"cannot pad {h}x{w} images to {out_h}x{out_w}; set dataset.resize='resize'")
        top, left = (out_h - h) // 2, (out_w - w) // 2
        out = np.zeros((n, out_h, out_w, c), np.uint8)
        out[:, top : top + h, left : left + w] = images
        return out
    top, left, ch, cw = _crop_to_aspect(h, w, out_h, out_w)
    out = np.empty((n, out_h, out_w, c), np.uint8)
    for i in range(n):
        crop = images[i, top : top + ch, left : left + cw]
        im = Image.fromarray(crop[..., 0] if c == 1 else crop)
        im = im.resize((out_w, out_h), Image.BILINEAR)
        out[i] = np.asarray(im).reshape(out_h, out_w, c)
    return out
