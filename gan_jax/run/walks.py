"""The frames of a trained generator's videos: walks through seeds, a grid of walks, a
truncation (ψ) sweep. Each returns uint8 frames (T, H, W, C); `gan_jax.run.video` writes
them and `gan_jax.tools.video` is their command line.

**Where a walk moves.** In z (any architecture): spherical interpolation between the
seeds' noise vectors, which keeps |z| near √z_dim where the generator was trained
(White 2016, "Sampling Generative Networks"), with a conditional model's class weights
moved linearly from one seed's class to the next's. In W (StyleGAN2, the default there):
linear interpolation of the seeds' ws, the space the generator was built to make
smooth (Karras et al. 2019, section 4.2, "perceptual path length"); NVlabs' gen_video.py
walks W too. Frame 0 of every walk is exactly the image ``generate --seeds`` gives for its
first seed (tested).

**Timing.** A path through K keyframes has (K − 1)·(F − 1) + 1 frames for ``frames=F``
per segment, both ends included, each shared keyframe once; ``loop=True`` returns to the
first seed and leaves out the final frame, so that the video repeats without a stutter.

**A grid of walks** (NVlabs' gen_video.py layout): with R × C cells and S = R·C·K seeds,
keyframe k of cell (r, c) is seed number k·R·C + r·C + c: frame 0 is the grid
``generate --seeds`` draws for the first R·C seeds.
"""

import dataclasses

import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.run import seed_sampling, style_space
from gan_jax.run.generator import TrainedGenerator
from gan_jax.training import sample

SPACES = ("auto", "z", "w")


def check_space(config, space: str) -> str:
    """'w' or 'z' for a run's ``config``: ``auto`` is W for StyleGAN2 and z otherwise; W
    needs a StyleGAN2 (checked before any weights are read)."""
    if space not in SPACES:
        raise ConfigError(f"space={space!r} must be one of {SPACES}")
    is_stylegan = config.model.architecture == "stylegan2"
    if space == "auto":
        return "w" if is_stylegan else "z"
    if space == "w" and not is_stylegan:
        raise ConfigError(
            f"a walk in W needs a StyleGAN generator (this one is {config.model.architecture!r}); walk in z"
        )
    return space


def resolve_space(gen: TrainedGenerator, space: str) -> str:
    """`check_space` of ``gen``'s config."""
    return check_space(gen.config, space)


def _keyframes(seeds: list[int], loop: bool) -> list[int]:
    if len(seeds) < 2:
        raise ConfigError(f"a walk needs at least two seeds, got {seeds}")
    return seeds + seeds[:1] if loop else seeds


def seed_walk(
    gen: TrainedGenerator,
    seeds: list[int],
    frames: int,
    *,
    space: str = "auto",
    loop: bool = False,
    class_: int | None = None,
    psi: float | None = None,
    noise_mode: str | None = None,
) -> np.ndarray:
    """Frames (T, H, W, C) of a walk through ``seeds``, ``frames`` per segment; ``psi``
    (default 1: none) and ``noise_mode`` (default 'const') are StyleGAN2's."""
    if frames < 2:
        raise ConfigError(f"frames={frames} must be at least 2 (the two ends of a segment)")
    keys = _keyframes(list(seeds), loop)
    if resolve_space(gen, space) == "w":
        s = style_space.of(gen, "a walk in W")
        ws = s.seed_ws(keys, class_, 1.0 if psi is None else psi)
        path = sample.interpolation_path(ws.reshape(len(keys), -1), frames, sample.lerp)
        images = s.images(path.reshape(-1, s.num_ws, s.w_dim), noise_mode or "const")
    else:
        if psi is not None or noise_mode is not None:
            gen = dataclasses.replace(gen, psi=psi, noise_mode=noise_mode)
        images = seed_sampling.seed_interpolation(
            gen, keys, frames, "slerp", class_, batch_size=gen.batch_size
        )[0]
    return images[:-1] if loop else images


def walk_grid(
    gen: TrainedGenerator, seeds: list[int], rows: int, cols: int, frames: int, **walk
) -> np.ndarray:
    """Frames of R × C walks side by side (the module docstring says which seeds each cell
    walks through); ``walk``: the options of `seed_walk`."""
    cells = rows * cols
    if cells < 1 or len(seeds) % cells or len(seeds) // cells < 2:
        raise ConfigError(
            f"a {rows}x{cols} grid of walks needs a multiple of {cells} seeds, at least {2 * cells} "
            f"(two keyframes per cell); got {len(seeds)}"
        )
    keys = np.asarray(seeds).reshape(-1, cells)  # (K, cells)
    walks = [seed_walk(gen, keys[:, i].tolist(), frames, **walk) for i in range(cells)]
    return np.stack([sample.make_grid(np.stack(f), rows=rows, cols=cols) for f in zip(*walks)])


def psi_sweep(
    gen: TrainedGenerator,
    seeds: list[int],
    psis: list[float],
    rows: int | None = None,
    cols: int | None = None,
    class_: int | None = None,
    noise_mode: str = "const",
) -> np.ndarray:
    """One frame per ψ: the grid of the seeds' images truncated by that ψ (StyleGAN2)."""
    s = style_space.of(gen, "a psi sweep")
    z, labels = gen.seed_inputs(seeds, class_)
    out = [sample.make_grid(s.images(s.ws(z, labels, p), noise_mode), rows=rows, cols=cols) for p in psis]
    return np.stack(out)


def parse_range(text: str, what: str) -> list[float]:
    """``"lo:hi:n"`` → n evenly spaced values from lo to hi, both included; or a list ``"a,b,c"``."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            if int(n) < 2:
                raise ValueError
            return [float(v) for v in np.linspace(float(lo), float(hi), int(n))]
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"{what}={text!r}: expected lo:hi:n (n ≥ 2) or a list like 1,0.7,0.5") from None
