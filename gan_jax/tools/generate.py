"""Images from a trained run's EMA generator: grids, one PNG per seed, .npz, interpolations.

    python -m gan_jax.tools.generate --workdir W --seeds 0-63 [--checkpoint STEP|best] [--class C]
        [--z_truncation T | --psi PSI] [--noise_mode const|none] [--grid ROWSxCOLS]
        [--out grid.png] [--outdir DIR] [--npz samples.npz]
    python -m gan_jax.tools.generate --workdir W --interpolate 0,7,3 [--frames 16] [--mode slerp|lerp]
        [--class C] [--out strip.png] [--gif anim.gif] [--outdir DIR]
    python -m gan_jax.tools.generate --workdir W --interpolate_classes 0,3 --seeds 5 [--frames 16]
        [--out strip.png] [--gif anim.gif] [--outdir DIR]

The run is read from the workdir alone: the checkpoint (the latest, ``--checkpoint STEP``,
or ``--checkpoint best`` for ``best_checkpoint/``) and the config saved with it.

The seeds' images, truncations, classes and interpolation frames are those of
`gan_jax.run.seed_sampling` (its docstring says exactly what each image depends on).

**Outputs.** ``--out``: a PNG grid of the seeds' images (``--grid ROWSxCOLS``, default
square-ish), or the interpolation strip, frames left to right (one row per seed for
``--interpolate_classes``). ``--outdir``: ``seed0000.png``… (``frame0000.png``… for
interpolations). ``--npz``: ``images`` (N, H, W, C) uint8, ``labels`` (N,) int32 (-1
for an unconditional model) and ``seeds`` (N,) int64, for external evaluators. ``--gif``:
the interpolation as an animated GIF at ``--fps`` (`gan_jax.run.video`; consecutive
identical frames are merged by the GIF encoder, their durations added). Longer walks, in W
for StyleGAN, as MP4 too: `gan_jax.tools.video`.

**Truncations.** ``--z_truncation t`` (BigGAN's, any architecture) and ``--psi ψ``
(StyleGAN's, in w space). Their former names, ``--truncation`` and ``--trunc``, still
work with a one-line notice.
"""

import dataclasses
import os
import re

import numpy as np
from absl import flags

from gan_jax.tools import cli
from gan_jax.training import sample
from gan_jax.run import video, writers
from gan_jax.run.generator import check_psi, check_z_truncation
from gan_jax.config.dataset import image_shape
from gan_jax.errors import ConfigError
from gan_jax.run.seed_sampling import (  # noqa: F401  (the sampling API, importable from here too)
    TrainedGenerator,
    check_class,
    check_w_truncation,
    class_interpolation,
    load_run,
    seed_images,
    seed_interpolation,
    seed_labels,
)


def define_flags() -> None:
    """Command-line flags, defined only when run as a program (importing stays side-effect free)."""
    flags.DEFINE_string("workdir", None, "The run to sample from.")
    flags.DEFINE_string("checkpoint", None, "Checkpoint step, or 'best' (default: the latest).")
    flags.DEFINE_string("seeds", None, "Seeds, e.g. 0-63, 1,5,9 or 0-3,10.")
    flags.DEFINE_integer("class", None, "Class of every image (conditional models).")
    flags.DEFINE_float("z_truncation", None, "Draw z from N(0, I) truncated to [-t, t] (BigGAN's trick).")
    flags.DEFINE_float("psi", None, "StyleGAN: w-space truncation psi, w = w_avg + psi (w - w_avg).")
    flags.DEFINE_float("truncation", None, "Former name of --z_truncation.")
    flags.DEFINE_float("trunc", None, "Former name of --psi.")
    flags.DEFINE_enum("noise_mode", None, ["const", "none"], "StyleGAN: per-pixel noise (default const).")
    flags.DEFINE_string("grid", None, "Grid of --out as ROWSxCOLS, e.g. 8x8.")
    flags.DEFINE_string("out", None, "PNG: the grid, or the interpolation strip.")
    flags.DEFINE_string("outdir", None, "Directory for one PNG per seed (or per interpolation frame).")
    flags.DEFINE_string("npz", None, ".npz of uint8 images, labels and seeds.")
    flags.DEFINE_string("interpolate", None, "Seeds to interpolate between, in order, e.g. 0,7,3.")
    flags.DEFINE_string("interpolate_classes", None, "Classes to interpolate between (with --seeds).")
    flags.DEFINE_integer("frames", 16, "Frames per interpolation segment, both ends included.")
    flags.DEFINE_enum("mode", "slerp", ["slerp", "lerp"], "How z is interpolated.")
    flags.DEFINE_string("gif", None, "Animated GIF of the interpolation.")
    flags.DEFINE_float("fps", 10.0, "GIF frames per second.")
    flags.DEFINE_integer("batch_size", 64, "Images per generator call (results do not depend on it).")


FLAGS = flags.FLAGS
MAX_SEED = 2**32 - 1


def parse_seeds(text: str, what: str = "--seeds") -> list[int]:
    """``"0-3,10"`` → [0, 1, 2, 3, 10]: comma-separated seeds and inclusive ranges, in order."""
    seeds = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise ConfigError(f"{what}={text!r}: expected numbers and ranges like 0-63, 1,5,9 or 0-3,10")
        first, last = int(match[1]), int(match[2] or match[1])
        if first > last or last > MAX_SEED:
            raise ConfigError(f"{what}={text!r}: ranges go up (a-b with a <= b) to at most {MAX_SEED}")
        seeds.extend(range(first, last + 1))
    return seeds


def parse_grid(text: str) -> tuple[int, int]:
    """``"4x8"`` → (4 rows, 8 columns)."""
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text.lower())
    if not match or not int(match[1]) or not int(match[2]):
        raise ConfigError(f"--grid={text!r}: expected ROWSxCOLS with positive numbers, e.g. 8x8")
    return int(match[1]), int(match[2])


def _write_dir(images: np.ndarray, outdir: str, names: list[str]) -> None:
    cli.output_path(os.path.join(outdir, names[0]))
    for image, name in zip(images, names):
        _written(os.path.join(outdir, name), lambda p, image=image: sample.save_png(image, p))


@dataclasses.dataclass(frozen=True)
class Request:
    """What one call asks for: the command line's flags (the module docstring says what
    each does); ``z_truncation`` is BigGAN's z truncation, ``psi`` StyleGAN's ψ."""

    seeds: str | None = None
    checkpoint: str | None = None
    class_: int | None = None
    z_truncation: float | None = None
    psi: float | None = None
    noise_mode: str | None = None
    grid: str | None = None
    out: str | None = None
    outdir: str | None = None
    npz: str | None = None
    interpolate: str | None = None
    interpolate_classes: str | None = None
    frames: int = 16
    mode: str = "slerp"
    gif: str | None = None
    fps: float = 10.0
    batch_size: int = 64

    @property
    def interpolating(self) -> bool:
        return bool(self.interpolate or self.interpolate_classes)


def _check_sources(o: Request) -> None:
    """Exactly one of seeds, a seed path or a class path, with what it needs."""
    if o.interpolate and o.interpolate_classes:
        raise ConfigError("give either --interpolate or --interpolate_classes, not both")
    if not o.interpolating and not o.seeds:
        raise ConfigError("give --seeds (e.g. --seeds 0-63), --interpolate or --interpolate_classes")
    if o.interpolate_classes and not o.seeds:
        raise ConfigError("--interpolate_classes needs --seeds: the z each row keeps")
    if o.interpolate and o.seeds:
        raise ConfigError("--interpolate takes its seeds itself; drop --seeds")
    if o.interpolate_classes and o.class_ is not None:
        raise ConfigError("--interpolate_classes sets the classes; drop --class")


def _check_outputs(o: Request) -> None:
    if not any((o.out, o.outdir, o.npz, o.gif)):
        raise ConfigError(
            "nothing to write: give --out, --outdir" + (", --gif" if o.interpolating else ", --npz")
        )
    if o.interpolating and (o.npz or o.grid):
        raise ConfigError("--npz and --grid are for --seeds sampling, not interpolations")
    if not o.interpolating and o.gif:
        raise ConfigError("--gif is for --interpolate or --interpolate_classes")
    for flag, ext in (("out", ".png"), ("gif", ".gif")):
        path = getattr(o, flag)
        if path and not path.lower().endswith(ext):
            raise ConfigError(f"--{flag}={path!r}: the file must end in {ext}")


def _check_request(o: Request) -> None:
    """Raises ConfigError for flag combinations that cannot work, before any checkpoint is read."""
    _check_sources(o)
    _check_outputs(o)
    if o.z_truncation is not None:
        check_z_truncation(o.z_truncation, "--z_truncation")
    if o.psi is not None:
        check_psi(o.psi, "--psi")
    if o.frames < 2:
        raise ConfigError(f"--frames={o.frames} must be at least 2 (the two ends)")
    if o.batch_size < 1 or o.fps <= 0:
        raise ConfigError("--batch_size and --fps must be positive")


def _npz_path(path: str) -> str:
    """numpy appends .npz to a name without it; say the name it really writes."""
    return path if path.lower().endswith(".npz") else path + ".npz"


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def _check_fits(n: int, config, what: str) -> None:
    """Refuses a request whose uint8 images alone would take over half the machine's memory
    (they are held together for a grid or an .npz), before any generation starts."""
    (h, w), c = image_shape(config.dataset), config.dataset.channels
    need = n * h * w * c
    if need > _memory_bytes() // 2:
        raise ConfigError(
            f"{what}: {n:,} images of {h}x{w}x{c} need {need / 2**30:.1f} GiB at once, "
            f"more than half of this machine's memory; use fewer seeds, or several "
            f"runs over seed ranges"
        )


def _written(path: str, write) -> str:
    """Runs ``write(path)``; an unwritable path is a one-line error."""
    try:
        write(cli.output_path(path))
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def _paths(o: Request) -> tuple[list[int], list[int], list[int]]:
    """(seeds, the seed path, the class path) the request names."""
    seeds = parse_seeds(o.seeds) if o.seeds else []
    shape = parse_grid(o.grid) if o.grid else None
    if shape and shape[0] * shape[1] < len(seeds):
        raise ConfigError(f"--grid={o.grid} has {shape[0] * shape[1]} cells for {len(seeds)} seeds")
    path_seeds = parse_seeds(o.interpolate, "--interpolate") if o.interpolate else []
    classes = parse_seeds(o.interpolate_classes, "--interpolate_classes") if o.interpolate_classes else []
    if (o.interpolate and len(path_seeds) < 2) or (o.interpolate_classes and len(classes) < 2):
        raise ConfigError("an interpolation needs at least two points, e.g. --interpolate 0,7")
    return seeds, path_seeds, classes


def _write_seeds(run: TrainedGenerator, o: Request, seeds: list[int]) -> list[str]:
    """The seeds' images as a grid (--out), one PNG each (--outdir) and an .npz (--npz)."""
    images, labels = seed_images(run, seeds, o.class_, o.z_truncation, o.batch_size)
    written = []
    if o.out:
        rows, cols = parse_grid(o.grid) if o.grid else (None, None)
        grid = sample.make_grid(images, rows=rows, cols=cols)
        written.append(_written(o.out, lambda p: sample.save_png(grid, p)))
    if o.outdir:
        _write_dir(images, o.outdir, [f"seed{s:04d}.png" for s in seeds])
        written.append(o.outdir)
    if o.npz:
        if not run.config.model.num_classes:
            labels = np.full(len(labels), -1, np.int32)
        arrays = dict(images=images, seeds=np.asarray(seeds, np.int64), labels=labels)
        written.append(_written(_npz_path(o.npz), lambda p: np.savez(p, **arrays)))
    return written


def _write_interpolation(
    run: TrainedGenerator, o: Request, seeds: list[int], path_seeds, classes
) -> list[str]:
    """The interpolation as a strip (--out), a GIF (--gif) and one PNG per frame (--outdir)."""
    if path_seeds:
        strips = seed_interpolation(run, path_seeds, o.frames, o.mode, o.class_, o.z_truncation, o.batch_size)
    else:
        strips = class_interpolation(run, seeds, classes, o.frames, o.z_truncation, o.batch_size)
    # One animation frame shows every row's image at that time, side by side.
    animation = np.stack([sample.make_grid(strips[:, j], rows=1) for j in range(strips.shape[1])])
    written = []
    if o.out:
        flat = strips.reshape(-1, *strips.shape[2:])
        strip = sample.make_grid(flat, rows=len(strips), cols=strips.shape[1])
        written.append(_written(o.out, lambda p: sample.save_png(strip, p)))
    if o.gif:
        written.append(_written(o.gif, lambda p: video.write(animation, p, o.fps)))
    if o.outdir:
        _write_dir(animation, o.outdir, [f"frame{j:04d}.png" for j in range(len(animation))])
        written.append(o.outdir)
    return written


def generate(workdir: str, *, run: TrainedGenerator | None = None, **options) -> list[str]:
    """Does what the command line asks (``options``: the fields of `Request`; the former
    ``truncation`` and ``trunc`` still work, with a notice); returns the paths written.
    ``run``, if given, is used in place of loading ``workdir``'s checkpoint."""
    o = Request(**sample.rename_former(options))
    _check_request(o)
    seeds, path_seeds, classes = _paths(o)

    def check_classes(config):
        for c in [o.class_] if o.class_ is not None else []:
            check_class(config, c)
        for c in classes:
            check_class(config, c, "--interpolate_classes")

    run = run or load_run(workdir, o.checkpoint, check_classes, o.psi, o.noise_mode)
    check_classes(run.config)
    count = max(len(seeds), len(path_seeds) * o.frames, len(classes) * o.frames * max(len(seeds), 1))
    _check_fits(count, run.config, "--seeds" if seeds else "the interpolation")
    if o.interpolating:
        return _write_interpolation(run, o, seeds, path_seeds, classes)
    return _write_seeds(run, o, seeds)


FLAG_OPTIONS = tuple(f.name for f in dataclasses.fields(Request) if f.name != "class_")


def main(argv):
    writers.quiet_library_logs()
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    if not FLAGS.workdir:
        cli.fail("--workdir is required")
    options = {name: FLAGS[name].value for name in FLAG_OPTIONS}
    former = sample.rename_former({k: FLAGS[k].value for k in sample.FORMER_NAMES} | options, spell="--{}")
    for path in generate(FLAGS.workdir, class_=FLAGS["class"].value, **former):
        print(f"wrote {path}")


def console_main() -> None:
    """The ``gan-jax-generate`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
