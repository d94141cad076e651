"""Packs a dataset into sharded ArrayRecord files that training can read by index.

    python -m gan_jax.tools.dataset_tool --source SRC --dest DIR --resolution R [--aspect W:H]
        [--channels C] [--fit crop|pad|resize] [--format png|jpeg|raw] [--shards N] [--workers W]
        [--bad_images fail|skip] [--max_examples N] [--split S] [--overwrite]

(installed: ``gan-jax-dataset-tool``). For example::

    python -m gan_jax.tools.dataset_tool --source ~/data/ffhq --dest ~/packed/ffhq256 --resolution 256 --shards 64
    python -m gan_jax.tools.dataset_tool --source tfds:cifar10:train --dest ~/packed/cifar10 --resolution 32
    python -m gan_jax.tools.dataset_tool --source ~/data/cars --dest ~/packed/cars512x384 --resolution 512 --aspect 4:3

**Sources.** ``--source`` is a folder of images (when every image sits in a sub-folder,
the sorted sub-folder names are the classes, as for ``dataset.source=folder``), a
``.zip`` of such a folder (one top folder holding everything is looked into), an IDX
directory (``--split`` train or test), an ``.npz`` (``images``, optional ``labels``), or
``tfds:NAME[:SPLIT]``: a TensorFlow Datasets dataset prepared as ArrayRecord (in
``TFDS_DATA_DIR``), read one example at a time through ``tfds.data_source``, or
``synthetic:COUNT:RESOLUTION[:CHANNELS]``: COUNT generated blobs of 10 classes, each made
from its index in a worker (`pack_sources.synthetic_image`), for datasets of any size in
tests and benchmarks. ``--max_examples N`` packs the first N.

**Fitting.** Images are brought to ``--channels`` (default: the first image's, grey or
RGB; grey ↔ RGB converted, alpha dropped) and to R×R by ``--fit``: ``resize`` (default)
centre-crops to a square and resamples bilinearly; ``pad`` centres smaller images on
black; ``crop`` cuts the centre R×R out of larger ones. ``pad`` and ``crop`` never
resample; an image they cannot fit is a bad image. ``--aspect W:H`` packs non-square
images, R the longer side (`gan_jax.config.dataset`: "4:3" at R = 512 is 384 × 512,
height × width), for StyleGAN2 and R3GAN runs with the same ``dataset.aspect``; ``resize``
then centre-crops to that aspect, ``pad`` and ``crop`` keep the aspect of what they get.

**Output.** ``--format`` png (lossless, default), jpeg (quality 95, no chroma
subsampling) or raw (the uint8 pixels: no decoding, larger). The examples are split in
order into ``--shards`` contiguous runs (default one per 10,000), one ArrayRecord file
each, beside ``labels.npy`` and ``dataset.json``; `gan_jax.data.packed` describes the layout
and reads it (``open_packed(DIR).read(indices)``). ``--workers`` processes (default: one
per CPU; 0 works in this one) decode, fit and encode; the shards do not depend on how
many.

**Bad images.** ``--bad_images fail`` (default) stops at the first image that cannot be
decoded or fitted, naming it; ``skip`` leaves such images out, counts them and lists
them in ``dataset.json``.

**Interrupting.** A pack is finished when ``dataset.json`` is written, last. Re-running
the same command resumes an interrupted pack from its finished shards; on a finished
pack it does nothing. A pack of another request in ``--dest`` is replaced only with
``--overwrite``; a folder holding other files is refused.

Errors a user can fix print one line, ``error: ...``, and exit with status 2.
"""

import os
import sys

from absl import flags

from gan_jax.data import pack_writer


def define_flags() -> None:
    """Command-line flags, defined only when run as a program (importing stays side-effect free)."""
    flags.DEFINE_string(
        "source",
        None,
        "A folder of images, a .zip, an IDX directory, an .npz, tfds:NAME[:SPLIT] or synthetic:COUNT:RES[:C].",
    )
    flags.DEFINE_string("dest", None, "The folder to write the pack into.")
    flags.DEFINE_integer(
        "resolution", None, "Side of the square images (the longer side with --aspect), in pixels."
    )
    flags.DEFINE_string(
        "aspect", "1:1", "Width:height of the images, e.g. 4:3 (StyleGAN2 and R3GAN train them)."
    )
    flags.DEFINE_integer("channels", 0, "1 (grey) or 3 (RGB); default: the source's.")
    flags.DEFINE_enum("fit", "resize", list(pack_writer.FITS), "How images are brought to R x R (or H x W).")
    flags.DEFINE_enum("format", "png", ["png", "jpeg", "raw"], "How images are stored.")
    flags.DEFINE_integer("shards", 0, "Shard files (default: one per 10,000 examples).")
    flags.DEFINE_integer("workers", None, "Worker processes (default: one per CPU; 0: none).")
    flags.DEFINE_enum(
        "bad_images", "fail", ["fail", "skip"], "An image that cannot be used stops the pack, or is left out."
    )
    flags.DEFINE_integer("max_examples", 0, "Pack only the first N examples (0: all).")
    flags.DEFINE_string("split", "train", "The split of an IDX directory, or of tfds:NAME.")
    flags.DEFINE_bool("overwrite", False, "Replace a finished pack of another request in --dest.")


FLAGS = flags.FLAGS


def default_workers() -> int:
    """One worker per CPU this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: list[str]) -> None:
    from gan_jax.tools import cli

    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    for name in ("source", "dest", "resolution"):
        if FLAGS[name].value is None:
            cli.fail(f"--{name} is required")
    request = pack_writer.Request(
        source=FLAGS.source,
        resolution=FLAGS.resolution,
        aspect=FLAGS.aspect,
        channels=FLAGS.channels,
        fit=FLAGS.fit,
        format=FLAGS["format"].value,
        shards=FLAGS.shards,
        bad_images=FLAGS.bad_images,
        max_examples=FLAGS.max_examples,
        split=FLAGS.split,
    )
    workers = default_workers() if FLAGS.workers is None else FLAGS.workers
    try:
        info = pack_writer.pack(request, FLAGS.dest, workers, FLAGS.overwrite)
    except KeyboardInterrupt:
        print(
            f"interrupted; the pack in {FLAGS.dest} is unfinished: run the same command again to resume it",
            file=sys.stderr,
        )
        sys.exit(130)
    print(
        f"{FLAGS.dest}: {info['count']} examples of {info.get('height', info['resolution'])}x"
        f"{info.get('width', info['resolution'])}x"
        f"{info['channels']} ({info['num_classes']} classes) in {len(info['shards'])} shards, "
        f"{len(info['skipped'])} skipped; sha256 {info['sha256']}"
    )


def console_main() -> None:
    """The ``gan-jax-dataset-tool`` console script."""
    from gan_jax.tools import cli  # imported here: worker processes import this module, not the CLI's

    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
