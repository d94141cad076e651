"""What the explorer page asks a trained generator for, answered as PNG bytes: one image
(seed, class, ψ, noise mode, style mixing of two seeds by layer range) or an interpolation
strip. `gan_jax.tools.explore` serves these over HTTP; this module knows no HTTP.

**An image.** Seed s draws z and its class as ``generate --seeds`` does (``class`` fixes
the class of a conditional model); the pixels are those ``generate`` writes for the
same options. StyleGAN2 only: ψ (w' = w̄ + ψ (w − w̄)), the noise mode, and style mixing
(Karras et al. 2019, section 3.1): the layers ``mix_from`` to ``mix_to`` (inclusive) of
seed s's ws are replaced by seed ``mix_seed``'s.

**A strip.** ``frames`` images from seed s to seed ``to``, both included: in W for
StyleGAN2, spherically in z otherwise (`gan_jax.run.walks`).

Every request is validated first; a bad one raises `ConfigError` with one line saying what
to change, which the server returns as HTTP 400.
"""

import dataclasses
import io
import math

import numpy as np
from PIL import Image

from gan_jax.errors import ConfigError
from gan_jax.run import style_space, walks
from gan_jax.run.generator import MAX_SEED, NOISE_MODES, TrainedGenerator, check_psi
from gan_jax.training import sample

MAX_FRAMES = 32
MAX_SCALE = 16


@dataclasses.dataclass(frozen=True)
class Request:
    """One request's parameters; ``None``: not asked for."""

    seed: int = 0
    class_: int | None = None
    psi: float = 1.0
    noise_mode: str = "const"
    mix_seed: int | None = None
    mix_from: int = 0
    mix_to: int = 0
    to: int | None = None
    frames: int = 8
    scale: int = 1


_INTS = ("seed", "class", "mix_seed", "mix_from", "mix_to", "to", "frames", "scale")


def _number(name: str, text: str):
    try:
        value = int(text) if name in _INTS else float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        kind = "an integer" if name in _INTS else "a finite number"
        raise ConfigError(f"{name}={text!r} must be {kind}")
    return value


def parse_query(query: dict[str, str]) -> Request:
    """A `Request` from a query string's parameters (names as in `Request`, ``class`` for
    ``class_``); `ConfigError` for an unknown name or a value of the wrong kind."""
    fields = {f.name.rstrip("_") for f in dataclasses.fields(Request)}
    values = {}
    for name, text in query.items():
        if name not in fields:
            raise ConfigError(f"unknown parameter {name!r}; the parameters are {sorted(fields)}")
        values["class_" if name == "class" else name] = text if name == "noise_mode" else _number(name, text)
    return Request(**values)


def info(gen: TrainedGenerator, source: str) -> dict:
    """What the page needs to lay out its controls."""
    config = gen.config
    stylegan = config.model.architecture == "stylegan2"
    return {
        "source": source,
        "step": gen.step,
        "architecture": config.model.architecture,
        "resolution": int(config.dataset.resolution),
        "height": gen.image_shape[0],
        "width": gen.image_shape[1],
        "channels": int(config.dataset.channels),
        "num_classes": gen.num_classes,
        "num_ws": style_space.of(gen).num_ws if stylegan else 0,
        "noise_modes": list(NOISE_MODES) if stylegan else [],
        "max_seed": MAX_SEED,
        "max_frames": MAX_FRAMES,
    }


def _check(gen: TrainedGenerator, r: Request) -> None:
    for name in ("seed", "mix_seed", "to"):
        value = getattr(r, name)
        if value is not None and not 0 <= value <= MAX_SEED:
            raise ConfigError(f"{name}={value} must be a seed, 0 to {MAX_SEED}")
    if not 2 <= r.frames <= MAX_FRAMES or not 1 <= r.scale <= MAX_SCALE:
        raise ConfigError(f"frames must be 2 to {MAX_FRAMES} and scale 1 to {MAX_SCALE}")
    if gen.config.model.architecture != "stylegan2":
        if r.psi != 1.0 or r.noise_mode != "const" or r.mix_seed is not None:
            raise ConfigError("psi, noise_mode and style mixing are for StyleGAN generators")
    else:
        check_psi(r.psi)
        if r.noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode={r.noise_mode!r} must be one of {list(NOISE_MODES)}")


def _image(gen: TrainedGenerator, r: Request) -> np.ndarray:
    if gen.config.model.architecture != "stylegan2":
        return gen(seeds=[r.seed], class_=r.class_)[0]
    space = style_space.of(gen)
    ws = space.seed_ws([r.seed], r.class_, r.psi)
    if r.mix_seed is not None:
        if not 0 <= r.mix_from <= r.mix_to < space.num_ws:
            raise ConfigError(
                f"mix_from and mix_to must satisfy 0 <= mix_from <= mix_to <= {space.num_ws - 1}"
            )
        other = space.seed_ws([r.mix_seed], r.class_, r.psi)
        ws = style_space.mix(ws, other, range(r.mix_from, r.mix_to + 1))
    return space.images(ws, r.noise_mode)[0]


def _png(image: np.ndarray, scale: int) -> bytes:
    image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def image_png(gen: TrainedGenerator, r: Request) -> bytes:
    """The PNG of one image (the module docstring says which)."""
    _check(gen, r)
    return _png(_image(gen, r), r.scale)


def strip_png(gen: TrainedGenerator, r: Request) -> bytes:
    """The PNG of the interpolation strip from ``seed`` to ``to``."""
    _check(gen, r)
    if r.to is None:
        raise ConfigError("a strip needs to=SEED, the seed it ends at")
    stylegan = gen.config.model.architecture == "stylegan2"
    options = dict(psi=r.psi, noise_mode=r.noise_mode) if stylegan else {}
    frames = walks.seed_walk(gen, [r.seed, r.to], r.frames, class_=r.class_, **options)
    return _png(sample.make_grid(frames, rows=1), r.scale)
