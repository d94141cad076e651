"""Projection: the latent a trained generator maps to your image.

    python -m gan_jax.tools.project --workdir W --target photo.png --outdir out/ [--space w|w+|z]
        [--steps 1000] [--distance fmnist|lpips|l2] [--lpips_weights lpips_vgg.npz]
        [--class C] [--seed 0] [--video progress.mp4 --video_every 10]
    python -m gan_jax.tools.project --generator g.safetensors --target_seed 5 --outdir out/

`gan_jax.run.projection` has the method: for StyleGAN2 NVlabs' projector (W, from w̄,
with its learning-rate and w-noise ramps and optimised, regularised noise images) or W+
(one w per layer); for the other architectures z (`--space z`, StyleGAN2 too).

**The target.** ``--target`` is an image file, prepared as the run's training images were:
grey or RGB, then padded (``dataset.resize='pad'``) or centre-cropped and resized to the
generator's resolution.
``--target_seed S`` takes the generator's own image of seed S instead: a projection that
should recover it.

**The distance.** ``fmnist`` (the default for one-channel generators: the shipped
Fashion-MNIST network's features), ``lpips`` (VGG16 LPIPS, the default for RGB; its
weights converted once, offline, with ``python -m gan_jax.tools.convert_lpips``) or
``l2`` (pixels). `gan_jax.metrics.perceptual` defines them.

**Outputs** in ``--outdir``: ``projected.npz`` (``latent``: w (w_dim,), ws (num_ws,
w_dim) or z (z_dim,); ``space``; ``label``; ``noise/<layer>`` images for StyleGAN2;
``target`` and ``image`` uint8; ``distance``), ``projected.png`` (the image) and
``compare.png`` (target | projection, side by side). ``--video`` (.mp4 or .gif) shows the
image every ``--video_every`` steps.
"""

import os

import jax
import numpy as np
from absl import flags
from PIL import Image

from gan_jax.config.dataset import image_shape
from gan_jax.data import files
from gan_jax.errors import ConfigError
from gan_jax.metrics import perceptual
from gan_jax.run import projection, seed_sampling, video, writers
from gan_jax.tools import cli
from gan_jax.training import sample


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "The run whose EMA generator to project into.")
    flags.DEFINE_string("checkpoint", None, "Checkpoint step, or 'best' (default: the latest).")
    flags.DEFINE_string("generator", None, "An exported generator file, in place of --workdir.")
    flags.DEFINE_string("target", None, "The image to project (PNG, JPEG, ...).")
    flags.DEFINE_integer("target_seed", None, "Project the generator's own image of this seed.")
    flags.DEFINE_enum("space", "auto", ["auto", *projection.SPACES], "w / w+ (StyleGAN2) or z; auto: w or z.")
    flags.DEFINE_integer("steps", 1000, "Optimisation steps.")
    flags.DEFINE_enum("distance", None, list(perceptual.DISTANCES), "Default: fmnist (grey) or lpips (RGB).")
    flags.DEFINE_string("lpips_weights", None, "LPIPS weights from gan_jax.tools.convert_lpips.")
    flags.DEFINE_integer("class", None, "Class of a conditional generator (default: 0).")
    flags.DEFINE_integer("seed", 0, "Seed of the random parts (w̄'s samples, noise images, z's start).")
    flags.DEFINE_string("outdir", None, "Where the results go.")
    flags.DEFINE_string("video", None, "A video of the optimisation: .mp4 or .gif.")
    flags.DEFINE_integer("video_every", 10, "Steps between the video's frames.")


def load_target(path: str, config) -> np.ndarray:
    """The image at ``path`` as uint8 (R, R, C), prepared as the run's training images were
    (`gan_jax.data.files`: channels, then ``dataset.resize``; an image too large to pad
    is centre-cropped and resized)."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), np.uint8)[None]
    except (OSError, ValueError) as e:
        raise ConfigError(f"--target={path!r} cannot be read as an image: {e}") from None
    (h, w), mode = image_shape(config.dataset), config.dataset.resize
    array = files.fit_channels(array, int(config.dataset.channels))
    if mode == "pad" and (array.shape[1] > h or array.shape[2] > w):
        mode = "resize"
    return files.fit_resolution(array, (h, w), mode)[0]


def resolve(config, space: str, distance: str | None) -> tuple[str, str]:
    """(space, distance) with the defaults filled in; `ConfigError` where they cannot work."""
    stylegan = config.model.architecture == "stylegan2"
    space = ("w" if stylegan else "z") if space == "auto" else space
    if space in ("w", "w+") and not stylegan:
        raise ConfigError(
            f"--space={space} needs a StyleGAN generator (this one is {config.model.architecture!r}); use --space z"
        )
    return space, distance or ("fmnist" if int(config.dataset.channels) == 1 else "lpips")


def _check_flags(f) -> None:
    if (f.target is None) == (f.target_seed is None):
        cli.fail("give --target IMAGE or --target_seed SEED")
    if not f.outdir:
        cli.fail("--outdir is required: where the results go")
    if f.steps < 1 or f.video_every < 1:
        cli.fail("--steps and --video_every must be positive")
    if f.video:
        video.check_path(f.video, "--video")
    if f.target and not os.path.isfile(f.target):
        cli.fail(f"--target={f.target!r} is not a file")


def run(gen, target: np.ndarray, space: str, distance_name: str, f) -> projection.Projection:
    distance = perceptual.make(distance_name, f.lpips_weights)
    schedule = projection.Schedule(steps=f.steps)
    label = f["class"].value or 0
    if label:
        seed_sampling.check_class(gen.config, label)
    record = f.video_every if f.video else 0
    if space == "z":
        z0 = gen.seed_inputs([f.seed])[0][0]
        return projection.project_z(gen, target, distance, schedule, z0, label, record)
    key = jax.random.key(f.seed)
    return projection.project_w(gen, target, distance, schedule, key, label, space == "w+", record)


def write(result: projection.Projection, target: np.ndarray, label: int, f) -> list[str]:
    out = cli.output_path(os.path.join(f.outdir, "projected.npz"))
    arrays = {f"noise/{k}": v for k, v in result.noise.items()}
    arrays.update(latent=result.latent, space=result.space, label=label, target=target, image=result.image)
    np.savez(out, distance=result.distance, **arrays)
    sample.save_png(result.image, os.path.join(f.outdir, "projected.png"))
    sample.save_png(
        sample.make_grid(np.stack([target, result.image]), rows=1), os.path.join(f.outdir, "compare.png")
    )
    written = [out, os.path.join(f.outdir, "projected.png"), os.path.join(f.outdir, "compare.png")]
    if f.video and len(result.frames):
        frames = np.stack([sample.make_grid(np.stack([target, frame]), rows=1) for frame in result.frames])
        written.append(video.write(frames, cli.output_path(f.video), fps=10))
    return written


def main(argv) -> None:
    writers.quiet_library_logs()
    f = flags.FLAGS
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    _check_flags(f)
    gen = seed_sampling.open_generator(f.workdir, f.generator, f.checkpoint, batch_size=1)
    space, distance = resolve(gen.config, f.space, f.distance)
    if f.target_seed is not None:
        target = gen(seeds=[f.target_seed])[0]
    else:
        target = load_target(f.target, gen.config)
    result = run(gen, target, space, distance, f)
    try:
        written = write(result, target, f["class"].value or 0, f)
    except OSError as e:
        raise ConfigError(f"cannot write the results to {f.outdir}: {e.strerror or e}") from None
    psnr = 10 * np.log10(255**2 / max(np.mean((result.image.astype(float) - target) ** 2), 1e-10))
    print(
        f"projected into {space} in {f.steps} steps: {distance} distance {result.distance:.4g}, PSNR {psnr:.1f} dB"
    )
    for path in written:
        print(f"wrote {path}")


def console_main() -> None:
    """The ``gan-jax-project`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
