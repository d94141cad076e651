"""Videos of a trained generator: walks through seeds, a grid of walks, a ψ sweep.

    python -m gan_jax.tools.video --workdir W --seeds 0,7,3 --out walk.mp4 [--frames 60] [--loop]
        [--space auto|z|w] [--class C] [--psi PSI] [--noise_mode const|none]
    python -m gan_jax.tools.video --workdir W --seeds 0-11 --grid 2x2 --loop --out grid.mp4
    python -m gan_jax.tools.video --workdir W --psi_sweep 1:0:30 --seeds 0-7 --out psi.mp4
    ... [--generator g.safetensors in place of --workdir] [--fps 30] [--scale 4] [--lossless]
        [--crf 18] [--strip strip.png --strip_frames 8]

The generator is the EMA generator of a run's checkpoint (``--workdir``, ``--checkpoint
STEP|best``), or a file `gan_jax.tools.export` or `gan_jax.tools.posthoc_ema` wrote
(``--generator``). Seeds draw their z and classes as ``generate`` does.

**Walks** (`gan_jax.run.walks` says exactly what each frame is): ``--seeds`` are the
keyframes, ``--frames`` per segment, ``--loop`` back to the first; in W for StyleGAN2
(linear), in z otherwise (spherical); ``--space`` overrides. With ``--grid RxC`` the
seeds are split into R·C walks side by side, NVlabs' gen_video layout.
**ψ sweep** (StyleGAN2): one frame per ψ of ``--psi_sweep lo:hi:n`` (or a list), each
the grid of ``--seeds`` truncated by that ψ.

**Outputs** (`gan_jax.run.video`): ``--out`` .mp4 (H.264; ``--lossless`` for frames
that decode bit-exact; needs ``pip install gan_jax[video]``) or .gif. ``--strip`` writes a
PNG of ``--strip_frames`` evenly spaced frames side by side, the video on one page.
"""

import dataclasses

import numpy as np
from absl import flags

from gan_jax.errors import ConfigError
from gan_jax.run import seed_sampling, style_space, video, walks, writers
from gan_jax.run.generator import NOISE_MODES, check_psi
from gan_jax.tools import cli
from gan_jax.tools.generate import parse_grid, parse_seeds
from gan_jax.training import sample


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "The run whose EMA generator to use.")
    flags.DEFINE_string("checkpoint", None, "Checkpoint step, or 'best' (default: the latest).")
    flags.DEFINE_string("generator", None, "An exported generator file, in place of --workdir.")
    flags.DEFINE_string(
        "seeds", None, "Keyframe seeds of the walk (or the seeds of a psi sweep), e.g. 0,7,3."
    )
    flags.DEFINE_string("grid", None, "ROWSxCOLS: that many walks side by side (or the psi sweep's grid).")
    flags.DEFINE_string("psi_sweep", None, "StyleGAN: one frame per psi, lo:hi:n or a list.")
    flags.DEFINE_integer("frames", 60, "Frames per segment of a walk, both ends included.")
    flags.DEFINE_bool("loop", False, "Walk back to the first seed (a video that repeats smoothly).")
    flags.DEFINE_enum("space", "auto", list(walks.SPACES), "Walk in z (slerp) or W (lerp; StyleGAN).")
    flags.DEFINE_integer("class", None, "Class of every frame (conditional models).")
    flags.DEFINE_float("psi", None, "StyleGAN: w-space truncation psi of the walk (default 1: none).")
    flags.DEFINE_enum("noise_mode", None, list(NOISE_MODES), "StyleGAN: per-pixel noise (default const).")
    flags.DEFINE_string("out", None, "The video: .mp4 or .gif.")
    flags.DEFINE_float("fps", 30.0, "Frames per second.")
    flags.DEFINE_integer("scale", 1, "Enlarge each frame by this integer factor (nearest neighbour).")
    flags.DEFINE_bool("lossless", False, "MP4 as lossless RGB H.264 (frames decode bit-exact).")
    flags.DEFINE_integer("crf", video.DEFAULT_CRF, "MP4 quality, 0 to 51, lower is better.")
    flags.DEFINE_string("strip", None, "PNG of evenly spaced frames side by side.")
    flags.DEFINE_integer("strip_frames", 8, "Frames in --strip.")
    flags.DEFINE_integer("batch_size", 64, "Images per generator call (results do not depend on it).")


@dataclasses.dataclass(frozen=True)
class Request:
    """The command line's flags (the module docstring says what each does)."""

    seeds: str | None = None
    grid: str | None = None
    psi_sweep: str | None = None
    frames: int = 60
    loop: bool = False
    space: str = "auto"
    class_: int | None = None
    psi: float | None = None
    noise_mode: str | None = None
    out: str | None = None
    fps: float = 30.0
    scale: int = 1
    lossless: bool = False
    crf: int = video.DEFAULT_CRF
    strip: str | None = None
    strip_frames: int = 8


def check_request(o: Request) -> None:
    """`ConfigError` for a request that cannot work, before the generator is read."""
    if not o.seeds:
        raise ConfigError("give --seeds: the walk's keyframes (e.g. 0,7,3), or the psi sweep's seeds")
    if not o.out and not o.strip:
        raise ConfigError("nothing to write: give --out (.mp4 or .gif) and/or --strip (.png)")
    if o.out:
        video.check_path(o.out)
    if o.strip and not o.strip.lower().endswith(".png"):
        raise ConfigError(f"--strip={o.strip!r}: the strip is written as .png")
    if o.psi is not None:
        check_psi(o.psi, "--psi")
    if o.frames < 2 or o.strip_frames < 1 or o.scale < 1:
        raise ConfigError("--frames must be at least 2, --strip_frames and --scale at least 1")
    if o.fps <= 0 or not 0 <= o.crf <= 51:
        raise ConfigError("--fps must be positive and --crf in 0 to 51")
    if o.psi_sweep and (o.loop or o.space != "auto" or o.psi is not None):
        raise ConfigError("--loop, --space and --psi are for walks; --psi_sweep sets psi frame by frame")


def check_config(config, o: Request) -> None:
    """`ConfigError` for a request the run's generator cannot serve, before its weights are read."""
    if o.class_ is not None:
        seed_sampling.check_class(config, o.class_)
    seed_sampling.check_w_truncation(config, o.psi, o.noise_mode)
    if o.psi_sweep:
        style_space.require_stylegan(config, "--psi_sweep")
    else:
        walks.check_space(config, o.space)


def make_frames(gen, o: Request) -> np.ndarray:
    """uint8 frames (T, H, W, C) of the request."""
    seeds = parse_seeds(o.seeds)
    rows, cols = parse_grid(o.grid) if o.grid else (None, None)
    check_config(gen.config, o)
    if o.psi_sweep:
        psis = [check_psi(p, "--psi_sweep") for p in walks.parse_range(o.psi_sweep, "--psi_sweep")]
        return walks.psi_sweep(gen, seeds, psis, rows, cols, o.class_, o.noise_mode or "const")
    walk = dict(space=o.space, loop=o.loop, class_=o.class_, psi=o.psi, noise_mode=o.noise_mode)
    if o.grid:
        return walks.walk_grid(gen, seeds, rows, cols, o.frames, **walk)
    return walks.seed_walk(gen, seeds, o.frames, **walk)


def frame_strip(frames: np.ndarray, count: int, gap: int = 6) -> np.ndarray:
    """``count`` evenly spaced frames, first and last included, side by side, ``gap``
    pixels apart (wider than a grid's own padding, so that frames of grids stand apart)."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))
    return sample.make_grid(frames[picks], rows=1, pad=gap)


def write(frames: np.ndarray, o: Request) -> list[str]:
    written = []
    if o.out:
        path = cli.output_path(o.out)
        written.append(video.write(frames, path, o.fps, scale=o.scale, lossless=o.lossless, crf=o.crf))
    if o.strip:
        strip = video.enlarge(frame_strip(frames, o.strip_frames)[None], o.scale)[0]
        sample.save_png(strip, cli.output_path(o.strip))
        written.append(o.strip)
    return written


def main(argv) -> None:
    writers.quiet_library_logs()
    f = flags.FLAGS
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    names = [x.name for x in dataclasses.fields(Request) if x.name != "class_"]
    o = Request(class_=f["class"].value, **{n: f[n].value for n in names})
    check_request(o)
    check = lambda config: check_config(config, o)  # noqa: E731
    gen = seed_sampling.open_generator(f.workdir, f.generator, f.checkpoint, f.batch_size, check)
    frames = make_frames(gen, o)
    try:
        written = write(frames, o)
    except OSError as e:
        raise ConfigError(f"cannot write the video: {e.strerror or e}") from None
    size = f"{len(frames)} frames of {frames.shape[2]}x{frames.shape[1]}"
    for path in written:
        print(f"wrote {path}" + (f" ({size})" if path == o.out else f" ({o.strip_frames} of the {size})"))


def console_main() -> None:
    """The ``gan-jax-video`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
