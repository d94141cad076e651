"""Datasets whose images stay where they are (a pack, a tfds data source), decoded when read.

A `StreamedDataset` keeps only the labels in memory; ``read(indices)`` fetches and
decodes those examples from its ``source`` (anything with ``read(indices) -> uint8
(n, R, R, C)`` over its own indices: a `gan_jax.data.packed.PackedDataset`, `TfdsImages`),
through ``keep`` when it is a subset. It is picklable (the sources reopen their files
in the process that unpickles them), so `gan_jax.data.pipeline` can read it in worker processes.
"""

import dataclasses
from typing import Any, ClassVar

import numpy as np

from gan_jax.data.files import fit_channels, fit_resolution, height_width


@dataclasses.dataclass
class StreamedDataset:
    """Examples ``keep`` (all when None) of ``source``: ``len()``, ``labels``,
    ``num_classes``, ``description`` and ``read(indices)``, like `gan_jax.data.sources.ImageDataset`."""

    source: Any  # read(indices) -> uint8 (n, R, R, C)
    labels: np.ndarray  # int32 (N,): of the kept examples
    num_classes: int
    description: str
    keep: np.ndarray | None = None  # int64 (N,): the source's index of each example
    in_memory: ClassVar[bool] = False

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, indices) -> np.ndarray:
        """uint8 (n, R, R, C): the images at ``indices``, in their order (a new array)."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        return self.source.read(indices if self.keep is None else self.keep[indices])


def select(dataset: StreamedDataset, classes, max_examples: int) -> StreamedDataset:
    """The examples of labels ``classes`` (all when empty; labels unchanged), then the first
    ``max_examples`` of them (all when 0), as ``dataset.classes`` and ``max_examples`` say."""
    keep = np.arange(len(dataset), dtype=np.int64)
    description = dataset.description
    if classes:
        keep = np.flatnonzero(np.isin(dataset.labels, np.asarray(classes, np.int64)))
        description += f", classes {','.join(str(c) for c in classes)}"
    if max_examples:
        keep = keep[:max_examples]
    if len(keep) == len(dataset):
        return dataclasses.replace(dataset, description=description)
    source_keep = keep if dataset.keep is None else dataset.keep[keep]
    return dataclasses.replace(
        dataset, labels=dataset.labels[keep], description=description, keep=source_keep
    )


@dataclasses.dataclass
class TfdsImages:
    """The images of a tfds data source, decoded by tfds and brought to (R, R, C) one
    example at a time (`fit_channels`, then `fit_resolution` with ``resize``)."""

    source: Any  # a tfds data source: random access, source[i] -> example (a dict)
    image_key: str
    resolution: int | tuple[int, int]  # R (square) or (height, width)
    channels: int
    resize: str

    def read(self, indices) -> np.ndarray:
        indices = np.asarray(indices, np.int64).reshape(-1)
        h, w = height_width(self.resolution)
        out = np.empty((len(indices), h, w, self.channels), np.uint8)
        for k, i in enumerate(indices.tolist()):
            image = np.asarray(self.source[i][self.image_key]).astype(np.uint8)
            image = image[..., None] if image.ndim == 2 else image
            out[k] = fit_resolution(fit_channels(image[None], self.channels), self.resolution, self.resize)[0]
        return out


def tfds_labels(source, label_key: str | None, count: int) -> np.ndarray:
    """int32 labels of a tfds data source's first ``count`` examples (all 0 without
    ``label_key``): one pass over them, which tfds decodes in full."""
    if label_key is None:
        return np.zeros(count, np.int32)
    return np.fromiter((int(source[i][label_key]) for i in range(count)), np.int32, count)
