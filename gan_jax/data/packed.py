"""Packed datasets: the format `python -m gan_jax.tools.dataset_tool` writes, and its reader.

A packed dataset is a folder::

    dataset.json                          what it holds (below); written last
    labels.npy                            int32 (count,): every example's label
    shard-00000-of-00004.array_record     the examples, in order, split into contiguous runs
    ...

Each shard is an ArrayRecord file (one record per chunk, uncompressed, so any record is
read without its neighbours) of records laid out as::

    bytes 0..3   the label, int32 little-endian
    bytes 4..    the image: a PNG or JPEG file, or for 'raw' the R·R·C uint8 pixels, row-major (H, W, C)

Example i of the dataset is record i − start(k) of the shard k whose run
[start(k), start(k) + count(k)) holds it, the starts being the running sums of the
shards' counts in ``dataset.json``.

``dataset.json`` holds: ``version`` (of this layout, 1), ``count``, ``resolution``
(the longer side), ``height`` and ``width`` (only when they differ from it), ``channels``, ``num_classes``, ``class_names`` (empty when unknown), ``format``
(png | jpeg | raw), ``jpeg_quality`` (jpeg), ``fit`` (crop | pad | resize), ``source``,
``shards`` (each ``file``, ``count``, ``bytes`` and ``sha256``), ``sha256``, ``skipped``
(each image left out: ``name`` and ``error``) and ``request`` (what was asked, which a
re-run compares). A shard's ``sha256`` is taken over its records in order, each fed as its
length (8 bytes, little-endian) then its bytes; the pack's ``sha256`` over the shards'
32-byte digests in order. A folder without ``dataset.json`` is an unfinished pack and
`open_packed` refuses it.
"""

import dataclasses
import hashlib
import io
import json
import os
import struct

import numpy as np
from array_record.python.array_record_module import ArrayRecordReader
from PIL import Image

from gan_jax.data.files import height_width
from gan_jax.errors import DataError

VERSION = 1
INFO_FILE = "dataset.json"
LABELS_FILE = "labels.npy"
FORMATS = ("png", "jpeg", "raw")
WRITER_OPTIONS = "group_size:1,uncompressed"
_READER_OPTIONS = "readahead_buffer_size:0,max_parallelism:0"  # random access
_LABEL = struct.Struct("<i")


def shard_name(index: int, shards: int) -> str:
    return f"shard-{index:05d}-of-{shards:05d}.array_record"


def encode_record(label: int, image: bytes) -> bytes:
    """One record: the label (int32 little-endian), then the encoded image."""
    return _LABEL.pack(int(label)) + image


def decode_record(record: bytes) -> tuple[int, bytes]:
    """(label, encoded image) of a record."""
    return _LABEL.unpack_from(record)[0], record[_LABEL.size :]


def record_digest_update(digest, record: bytes) -> None:
    """Feeds one record to a shard's sha256: its length (8 bytes, little-endian), its bytes."""
    digest.update(len(record).to_bytes(8, "little"))
    digest.update(record)


def pack_digest(shard_digests: list[str]) -> str:
    """The pack's sha256: over its shards' digests (hex strings) in order, as bytes."""
    return hashlib.sha256(b"".join(bytes.fromhex(d) for d in shard_digests)).hexdigest()


def encode_image(image: np.ndarray, fmt: str, jpeg_quality: int = 95) -> bytes:
    """(R, R, C) uint8 → the bytes a record stores for ``fmt``: PNG, JPEG (4:4:4 chroma) or raw."""
    if fmt == "raw":
        return np.ascontiguousarray(image, np.uint8).tobytes()
    buffer = io.BytesIO()
    im = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    if fmt == "png":
        im.save(buffer, "PNG")
    else:
        im.save(buffer, "JPEG", quality=jpeg_quality, subsampling=0)
    return buffer.getvalue()


def decode_image(data: bytes, fmt: str, size, channels: int) -> np.ndarray:
    """A record's image bytes → (H, W, C) uint8 (``size`` R for R × R, or (H, W));
    `DataError` if they are not such an image."""
    shape = height_width(size) + (channels,)
    try:
        if fmt == "raw":
            array = np.frombuffer(data, np.uint8)
        else:
            with Image.open(io.BytesIO(data)) as im:
                array = np.asarray(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"a packed {fmt} image cannot be decoded: {e}") from None
    if array.size != np.prod(shape):
        raise DataError(f"a packed {fmt} image has shape {array.shape}, the pack says {shape}")
    return array.reshape(shape)


# ----------------------------------------------------------------------------
# Reading


def read_info(directory: str) -> dict:
    """``dataset.json`` of a finished pack; `DataError` if ``directory`` is not one."""
    path = os.path.join(directory, INFO_FILE)
    if not os.path.isfile(path):
        unfinished = os.path.isdir(os.path.join(directory, ".partial"))
        raise DataError(
            f"{directory} is not a packed dataset (no {INFO_FILE})"
            + ("; its pack is unfinished: re-run the dataset tool to complete it" if unfinished else "")
        )
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if not isinstance(info, dict) or info.get("version") != VERSION:
        raise DataError(f"{path} is not a version-{VERSION} packed dataset description")
    return info


@dataclasses.dataclass
class PackedDataset:
    """A finished pack (`open_packed`): its description, labels, and images read by index.

    Shard readers open on first use; a pickled copy (a worker process's) opens its own."""

    directory: str
    info: dict
    labels: np.ndarray  # int32 (count,)
    _starts: np.ndarray = dataclasses.field(repr=False)  # first global index of each shard
    _readers: dict = dataclasses.field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.info["count"])

    @property
    def resolution(self) -> int:
        return int(self.info["resolution"])

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the images: ``height`` and ``width`` for a non-square pack."""
        r = self.resolution
        return int(self.info.get("height", r)), int(self.info.get("width", r))

    @property
    def channels(self) -> int:
        return int(self.info["channels"])

    @property
    def num_classes(self) -> int:
        return int(self.info["num_classes"])

    @property
    def class_names(self) -> list[str]:
        return list(self.info["class_names"])

    def locate(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """(shard, offset in the shard) of each global index."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"indices must be in [0, {len(self)}); got {indices.min()}..{indices.max()}")
        shards = np.searchsorted(self._starts, indices, side="right") - 1
        return shards, indices - self._starts[shards]

    def records(self, indices) -> list[bytes]:
        """The raw records at these global indices, in their order."""
        shards, offsets = self.locate(indices)
        out = [b""] * len(shards)
        for shard in np.unique(shards):
            where = np.flatnonzero(shards == shard)
            try:
                read = self._reader(int(shard)).read(offsets[where].tolist())
            except RuntimeError as e:  # Riegeli's own hashes: "Corrupted Riegeli/records file: ..."
                path = os.path.join(self.directory, self.info["shards"][int(shard)]["file"])
                raise DataError(
                    f"{path} is damaged ({str(e).split(';')[0]}); its bytes differ from what "
                    f"was packed: pack the source again into this folder (the same dataset_tool "
                    f"command rewrites it), or restore the shard from a copy"
                ) from None
            for i, record in zip(where, read):
                out[i] = record
        return out

    def read(self, indices) -> np.ndarray:
        """uint8 (n, H, W, C): the images at these global indices, in their order."""
        shape = (*self.shape, self.channels)
        images = np.empty((len(np.atleast_1d(indices)), *shape), np.uint8)
        for i, record in enumerate(self.records(indices)):
            images[i] = decode_image(decode_record(record)[1], self.info["format"], self.shape, self.channels)
        return images

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

    def _reader(self, shard: int) -> ArrayRecordReader:
        if shard not in self._readers:
            entry = self.info["shards"][shard]
            path = os.path.join(self.directory, entry["file"])
            reader = ArrayRecordReader(path, _READER_OPTIONS)
            if not reader.ok() or reader.num_records() != entry["count"]:
                raise DataError(
                    f"{path} holds {reader.num_records() if reader.ok() else 'no readable'} "
                    f"records; {INFO_FILE} says {entry['count']}"
                )
            self._readers[shard] = reader
        return self._readers[shard]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_readers": {}}


def open_packed(directory: str) -> PackedDataset:
    """The finished pack in ``directory``; `DataError` when it is unfinished, or a shard or
    the labels are missing or of another size than ``dataset.json`` says."""
    info = read_info(directory)
    counts = [int(s["count"]) for s in info["shards"]]
    if sum(counts) != info["count"]:
        raise DataError(
            f"{directory}: the shards of {INFO_FILE} hold {sum(counts)} examples, "
            f"its count is {info['count']}"
        )
    for shard in info["shards"]:
        path = os.path.join(directory, shard["file"])
        size = os.path.getsize(path) if os.path.isfile(path) else None
        if size != shard["bytes"]:
            raise DataError(
                f"{path} is "
                + ("missing" if size is None else f"{size} bytes")
                + f"; {INFO_FILE} says {shard['bytes']} bytes"
            )
    labels_path = os.path.join(directory, LABELS_FILE)
    try:
        labels = np.load(labels_path, allow_pickle=False).astype(np.int32)
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {labels_path}: {e}") from None
    if labels.shape != (info["count"],):
        raise DataError(f"{labels_path} holds {labels.shape} labels for {info['count']} examples")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return PackedDataset(directory, info, labels, starts)


def verify(dataset: PackedDataset) -> None:
    """Reads every record and checks the shards' and the pack's sha256 and the labels
    against ``dataset.json``; `DataError` on the first mismatch."""
    digests, start = [], 0
    for k, shard in enumerate(dataset.info["shards"]):
        digest = hashlib.sha256()
        labels = []
        for record in dataset.records(np.arange(start, start + shard["count"])):
            record_digest_update(digest, record)
            labels.append(decode_record(record)[0])
        if digest.hexdigest() != shard["sha256"]:
            raise DataError(f"{shard['file']} does not match its sha256 in {INFO_FILE}")
        if not np.array_equal(labels, dataset.labels[start : start + shard["count"]]):
            raise DataError(f"the labels in {shard['file']} differ from {LABELS_FILE}")
        digests.append(digest.hexdigest())
        start += shard["count"]
    if pack_digest(digests) != dataset.info["sha256"]:
        raise DataError(f"{dataset.directory}: the pack's sha256 differs from {INFO_FILE}")
