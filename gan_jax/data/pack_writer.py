"""Writes a packed dataset (`gan_jax.data.packed`) from a source (`gan_jax.data.pack_sources`).

Example i of the source goes to shard k = the one whose run [k·n // S, (k+1)·n // S)
of source indices holds it (n examples, S shards), at its place among that run's kept
examples, so every shard is a function of the request alone. Workers decode, fit and
encode chunks of examples; the parent hands out at most two chunks per worker ahead of
the one it is writing, so memory is bounded by that queue, not by the dataset, and
writes the results in order.

Interrupt safety. Until a pack is finished ``DEST/.partial/`` holds the request
(``request.json``) and one note per finished shard (its count, bytes, sha256, labels and
skipped images); a shard is written to ``<name>.tmp`` and renamed when complete, then
noted. ``labels.npy`` and, last, ``dataset.json`` end the pack; ``.partial/`` is
removed after them. A re-run of the same request resumes: shards noted as finished are
kept, the others redone. An unfinished pack of another request is discarded. A finished
pack of the same request is read through and left as it is when every record matches its
sha256, else packed again; one of another request is replaced only with ``overwrite``. Nothing but a pack's own files is ever removed.
"""

import collections
import contextlib
import dataclasses
import errno
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import shutil
import signal
from typing import Callable, Iterable, Iterator

import numpy as np
from array_record.python.array_record_module import ArrayRecordWriter

from gan_jax.data import packed
from gan_jax.errors import ConfigError, DataError
from gan_jax.config.dataset import shape_of
from gan_jax.data.files import fit_resolution, height_width
from gan_jax.data.pack_sources import Source, Task, open_source, task_image

PARTIAL = ".partial"
REQUEST_FILE = "request.json"
FITS = ("crop", "pad", "resize")
EXAMPLES_PER_SHARD = 10_000  # shards=0: one shard per this many examples
MAX_RESOLUTION = 8192  # 8192² RGB is 192 MiB an image; GANs train at 1024 px and below
CHUNK = 8  # examples per piece of work handed to a worker
_OWN_FILE = re.compile(r"(shard-\d{5}-of-\d{5}\.array_record|labels\.npy|dataset\.json)(\.tmp)?")


@dataclasses.dataclass(frozen=True)
class Request:
    """What to pack; ``channels=0`` takes the source's, ``shards=0`` one per
    `EXAMPLES_PER_SHARD` examples, ``max_examples=0`` all of them."""

    source: str
    resolution: int
    channels: int = 0
    aspect: str = "1:1"  # width:height of the images; ``resolution`` is the longer side
    fit: str = "resize"
    format: str = "png"
    shards: int = 0
    bad_images: str = "fail"
    max_examples: int = 0
    split: str = "train"
    jpeg_quality: int = 95


def _shape_fields(spec: dict) -> dict:
    """``height`` and ``width`` for a non-square pack's dataset.json (none for a square one)."""
    if "aspect" not in spec:
        return {}
    height, width = shape_of(spec["resolution"], spec["aspect"], "--aspect")
    return {"height": height, "width": width}


def check_request(request: Request) -> None:
    """`ConfigError` for a request no source could satisfy."""
    if not 1 <= request.resolution <= MAX_RESOLUTION:
        size = f" (one such RGB image takes {3 * request.resolution**2 / 2**30:.0f} GiB)"
        raise ConfigError(
            f"--resolution={request.resolution} must be in [1, {MAX_RESOLUTION}]"
            + (size if request.resolution > MAX_RESOLUTION else "")
        )
    shape_of(request.resolution, request.aspect, "--aspect")
    if request.channels not in (0, 1, 3):
        raise ConfigError(f"--channels={request.channels} must be 1 or 3")
    if request.fit not in FITS:
        raise ConfigError(f"--fit={request.fit!r} must be one of {', '.join(FITS)}")
    if request.format not in packed.FORMATS:
        raise ConfigError(f"--format={request.format!r} must be one of {', '.join(packed.FORMATS)}")
    if request.bad_images not in ("fail", "skip"):
        raise ConfigError(f"--bad_images={request.bad_images!r} must be 'fail' or 'skip'")
    if request.shards < 0 or request.max_examples < 0:
        raise ConfigError("--shards and --max_examples must not be negative")


# ----------------------------------------------------------------------------
# One example (in a worker)


def fit_image(image: np.ndarray, size, fit: str, name: str) -> np.ndarray:
    """(H, W, C) → (R_h, R_w, C) (``size`` R or (R_h, R_w)) by `image_files.fit_resolution`;
    `DataError` naming the image when 'pad' would have to shrink it or 'crop' to enlarge it."""
    out_h, out_w = height_width(size)
    h, w = image.shape[:2]
    if (fit == "pad" and (h > out_h or w > out_w)) or (fit == "crop" and (h < out_h or w < out_w)):
        raise DataError(f"{name} is {h}x{w}: --fit {fit} cannot make it {out_h}x{out_w}; use --fit resize")
    return fit_resolution(image[None], (out_h, out_w), fit)[0]


def prepare(task: Task, settings: tuple) -> tuple:
    """(index, name, label, record or None, error or None) of one task; ``settings`` is
    (resolution, channels, fit, format, jpeg quality)."""
    resolution, channels, fit, fmt, quality = settings
    try:
        image = fit_image(task_image(task, channels), resolution, fit, task.name)
    except DataError as e:
        message = str(e) if task.name in str(e) else f"{task.name}: {e}"
        return task.index, task.name, task.label, None, message
    record = packed.encode_record(task.label, packed.encode_image(image, fmt, quality))
    return task.index, task.name, task.label, record, None


def _prepare_chunk(chunk: list[Task], settings: tuple) -> list[tuple]:
    return [prepare(task, settings) for task in chunk]


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which stops them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def prepared(tasks: Iterable[Task], settings: tuple, pool, workers: int) -> Iterator[tuple]:
    """`prepare` over ``tasks``, in order: in this process when ``pool`` is None, else in
    chunks of `CHUNK` with at most ``2 · workers`` chunks handed out ahead."""
    if pool is None:
        yield from (prepare(task, settings) for task in tasks)
        return
    pending, tasks = collections.deque(), iter(tasks)
    while chunk := list(itertools.islice(tasks, CHUNK)):
        pending.append(pool.apply_async(_prepare_chunk, (chunk, settings)))
        if len(pending) > 2 * workers:
            yield from pending.popleft().get()
    while pending:
        yield from pending.popleft().get()


# ----------------------------------------------------------------------------
# The destination folder


def _write_json(path: str, value) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=1)
    os.replace(path + ".tmp", path)


def _read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _clear(dest: str) -> None:
    """Removes a pack's own files from ``dest``, dataset.json first."""
    for name in [packed.INFO_FILE] + sorted(os.listdir(dest)):
        path = os.path.join(dest, name)
        if _OWN_FILE.fullmatch(name) and os.path.isfile(path):
            os.remove(path)
    shutil.rmtree(os.path.join(dest, PARTIAL), ignore_errors=True)


def _make_dest(dest: str) -> None:
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise DataError(f"--dest {dest!r} is a file, not a folder")
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create --dest {dest!r}: {e.strerror}") from None
    if not os.access(dest, os.W_OK | os.X_OK):
        raise DataError(f"--dest {dest!r} is not writable")


def _finished_pack(dest: str, spec: dict, overwrite: bool, log: Callable[[str], None]) -> bool:
    """True when ``dest`` holds the finished, complete pack of ``spec``. A finished pack of
    another request is refused without ``overwrite``; nothing is removed here."""
    info_path = os.path.join(dest, packed.INFO_FILE)
    if not os.path.exists(info_path):
        return False
    old = (_read_json(info_path) or {}).get("request")
    if old == spec:
        try:
            dataset = packed.open_packed(dest)
            packed.verify(dataset)  # every record against its sha256: a re-run repairs a damaged pack
            dataset.close()
            return True
        except DataError as e:
            log(f"the pack in {dest} is damaged or incomplete ({str(e).split(';')[0]}); packing it again")
            return False
    if not overwrite:
        differ = sorted(k for k in spec if not isinstance(old, dict) or old.get(k) != spec[k])
        detail = ", ".join(
            f"{k}: {old.get(k)!r} there, {spec[k]!r} here" if isinstance(old, dict) else k for k in differ
        )
        raise DataError(
            f"{info_path} describes a finished pack of another request ({detail}); "
            f"pass --overwrite to replace it, or choose another --dest"
        )
    log(f"replacing the finished pack in {dest}")
    return False


def open_dest(dest: str, spec: dict, overwrite: bool, log: Callable[[str], None]) -> set[int] | None:
    """Readies ``dest`` for the pack ``spec`` describes: None when it already holds that
    finished pack, else the shards an unfinished pack of it has finished (see the module
    docstring for what is kept, discarded or refused). Every refusal comes before any
    file is removed."""
    _make_dest(dest)
    if _finished_pack(dest, spec, overwrite, log):
        shutil.rmtree(os.path.join(dest, PARTIAL), ignore_errors=True)
        return None
    foreign = sorted(n for n in os.listdir(dest) if not _OWN_FILE.fullmatch(n) and n != PARTIAL)
    if foreign:
        raise DataError(
            f"--dest {dest} holds files that are not a pack's (e.g. {foreign[0]}); "
            f"choose a new or empty folder"
        )
    partial = os.path.join(dest, PARTIAL)
    if os.path.isdir(partial):
        if _read_json(os.path.join(partial, REQUEST_FILE)) == spec:
            return _finished_shards(dest, spec["shards"])
        log(f"discarding the unfinished pack of another request in {dest}")
    _clear(dest)
    os.makedirs(partial)
    _write_json(os.path.join(partial, REQUEST_FILE), spec)
    return set()


def _note_path(dest: str, shard: int) -> str:
    return os.path.join(dest, PARTIAL, f"shard-{shard:05d}.json")


def _finished_shards(dest: str, shards: int) -> set[int]:
    """Shards noted as finished whose file is there at its noted size; the others' files go."""
    done = set()
    for k in range(shards):
        note = _read_json(_note_path(dest, k))
        path = os.path.join(dest, packed.shard_name(k, shards))
        if note and os.path.isfile(path) and os.path.getsize(path) == note["bytes"]:
            done.add(k)
        else:
            for stale in (path, path + ".tmp", _note_path(dest, k)):
                if os.path.exists(stale):
                    os.remove(stale)
    return done


# ----------------------------------------------------------------------------
# Shards and the pack


def write_shard(dest: str, shard: int, shards: int, results: Iterable[tuple], bad_images: str) -> dict:
    """Writes one shard from `prepare` results, renames it into place and notes it; the note."""
    path = os.path.join(dest, packed.shard_name(shard, shards))
    digest, labels, skipped = hashlib.sha256(), [], []
    writer = ArrayRecordWriter(path + ".tmp", packed.WRITER_OPTIONS)
    try:
        try:
            for _, name, label, record, error in results:
                if error is not None:
                    if bad_images == "fail":
                        raise DataError(f"{error}; pass --bad_images=skip to leave such images out")
                    skipped.append({"name": name, "error": error})
                    continue
                writer.write(record)
                packed.record_digest_update(digest, record)
                labels.append(label)
        finally:
            writer.close()
    except RuntimeError as e:  # the writer's I/O errors: "write() failed: No space left on device; ..."
        with contextlib.suppress(OSError):
            os.remove(path + ".tmp")
        raise OSError(errno.EIO, str(e).split(";")[0], path + ".tmp") from None
    os.replace(path + ".tmp", path)
    note = {
        "file": os.path.basename(path),
        "count": len(labels),
        "bytes": os.path.getsize(path),
        "sha256": digest.hexdigest(),
        "labels": labels,
        "skipped": skipped,
    }
    _write_json(_note_path(dest, shard), note)
    return note


def finish(dest: str, spec: dict, source: Source) -> dict:
    """Writes labels.npy, then dataset.json, from the shards' notes; removes .partial/."""
    notes = [_read_json(_note_path(dest, k)) for k in range(spec["shards"])]
    labels = np.array([label for note in notes for label in note["labels"]], np.int32)
    if len(labels) == 0:
        example = next((s for note in notes for s in note["skipped"]), {"error": "none"})
        raise DataError(
            f"none of the {source.count} images of {source.description} could be "
            f"used, e.g. {example['error']}"
        )
    with open(os.path.join(dest, packed.LABELS_FILE + ".tmp"), "wb") as f:
        np.save(f, labels)
    os.replace(os.path.join(dest, packed.LABELS_FILE + ".tmp"), os.path.join(dest, packed.LABELS_FILE))
    shards = [{k: note[k] for k in ("file", "count", "bytes", "sha256")} for note in notes]
    info = {
        "version": packed.VERSION,
        "count": len(labels),
        "resolution": spec["resolution"],
        **_shape_fields(spec),
        "channels": spec["channels"],
        "num_classes": source.num_classes,
        "class_names": source.class_names,
        "format": spec["format"],
        "fit": spec["fit"],
    }
    if spec["format"] == "jpeg":
        info["jpeg_quality"] = spec["jpeg_quality"]
    info.update(
        source=source.description,
        shards=shards,
        sha256=packed.pack_digest([s["sha256"] for s in shards]),
        skipped=[s for note in notes for s in note["skipped"]],
        request=spec,
    )
    _write_json(os.path.join(dest, packed.INFO_FILE), info)
    shutil.rmtree(os.path.join(dest, PARTIAL), ignore_errors=True)
    return info


def pack(
    request: Request, dest: str, workers: int = 0, overwrite: bool = False, log: Callable[[str], None] = print
) -> dict:
    """Packs ``request.source`` into ``dest`` with ``workers`` processes (0: this one);
    returns the pack's dataset.json. Resumes or skips work as the module docstring says.
    A failed write (a full disk, a read-only folder) is a `DataError`: the shards finished
    before it are kept, and the same request resumes from them."""
    try:
        return _pack(request, dest, workers, overwrite, log)
    except OSError as e:
        where = e.filename or dest
        raise DataError(
            f"cannot write the pack in {dest}: {e.strerror or e} ({where}); finished shards are "
            f"kept: free space or fix the folder, and run the same command to resume"
        ) from None


def _pack(request: Request, dest: str, workers: int, overwrite: bool, log: Callable[[str], None]) -> dict:
    check_request(request)
    if workers < 0:
        raise ConfigError(f"--workers={workers} must not be negative")
    source = open_source(request.source, request.split, request.max_examples)
    shards = request.shards or max(1, -(-source.count // EXAMPLES_PER_SHARD))
    spec = {
        "source": source.description,
        "fingerprint": source.fingerprint,
        "count": source.count,
        "resolution": request.resolution,
        "channels": request.channels or source.channels,
        "fit": request.fit,
        "format": request.format,
        "jpeg_quality": request.jpeg_quality,
        "shards": shards,
        "bad_images": request.bad_images,
        "max_examples": request.max_examples,
    }
    if shape_of(request.resolution, request.aspect, "--aspect") != (request.resolution,) * 2:
        spec["aspect"] = request.aspect  # only then, so that a square pack's request is unchanged
    done = open_dest(dest, spec, overwrite, log)
    if done is None:
        log(f"{dest} already holds this pack; nothing to do")
        return packed.read_info(dest)
    if done:
        log(f"resuming: {len(done)} of {shards} shards were already written")
    size = shape_of(request.resolution, request.aspect, "--aspect")
    settings = (size, spec["channels"], request.fit, request.format, request.jpeg_quality)
    bounds = [k * source.count // shards for k in range(shards + 1)]
    context = multiprocessing.get_context("spawn")  # workers start clean, whatever the parent imported
    with context.Pool(workers, _ignore_interrupts) if workers else contextlib.nullcontext() as pool:
        for k in sorted(set(range(shards)) - done):
            results = prepared(source.tasks(bounds[k], bounds[k + 1]), settings, pool, workers)
            note = write_shard(dest, k, shards, results, request.bad_images)
            log(
                f"shard {k + 1}/{shards}: {note['count']} examples"
                + (f", {len(note['skipped'])} skipped" if note["skipped"] else "")
            )
    return finish(dest, spec, source)
