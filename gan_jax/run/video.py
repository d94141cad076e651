"""Animations on disk: MP4 (H.264, through the ffmpeg binary the imageio-ffmpeg package
ships: ``pip install gan_jax[video]``) or GIF (Pillow, always available).

**MP4.** By default libx264 in yuv420p at constant quality ``crf`` (18: visually
lossless for most content; 0 to 51, lower is better), which every player opens. Chroma is
subsampled 2×2, so the frame's height and width are padded to even numbers (black rows and
columns at the bottom and right). ``lossless=True`` writes libx264rgb at ``-qp 0``:
RGB without subsampling, and the decoded frames equal the written ones bit for bit; fewer
players open it (ffmpeg, VLC and mpv do).

**GIF.** 256 colours per frame, so greyscale images round-trip exactly; consecutive equal
frames are merged by Pillow, their durations added.

``scale`` enlarges each frame by an integer factor, nearest neighbour (a 32 px generator
makes a stamp-sized video otherwise). A file is written under a temporary name and moved
into place when it is complete: an interrupted write leaves no half video under ``path``.
"""

import contextlib
import os
import warnings

import numpy as np
from PIL import Image

from gan_jax.errors import ConfigError

FORMATS = (".mp4", ".gif")
DEFAULT_CRF = 18


def _ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ConfigError(
            "writing .mp4 needs the imageio-ffmpeg package (pip install 'gan_jax[video]'); or write a .gif"
        ) from None
    return imageio_ffmpeg


@contextlib.contextmanager
def _spawning():
    """Starting ffmpeg forks and at once executes it, which is safe in a multithreaded
    process; JAX's warning about fork, meant for a child that keeps running Python, is
    silenced for that moment only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
        yield


def check_path(path: str, flag: str = "--out") -> str:
    """The file's format ('.mp4' or '.gif'); `ConfigError` for any other, or for .mp4
    without imageio-ffmpeg, before any frame is made."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ConfigError(f"{flag}={path!r}: a video is written as .mp4 or .gif")
    if os.path.isdir(path):
        raise ConfigError(f"{flag}={path!r} is a directory; give the file to write")
    if ext == ".mp4":
        _ffmpeg()
    return ext


def enlarge(frames: np.ndarray, scale: int) -> np.ndarray:
    """(T, H, W, C) → (T, scale·H, scale·W, C), each pixel a scale × scale block."""
    if scale < 1:
        raise ConfigError(f"scale={scale} must be a positive integer")
    return frames if scale == 1 else frames.repeat(scale, axis=1).repeat(scale, axis=2)


def _even_rgb(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 1 or 3) uint8 → (T, H', W', 3) with H', W' the even numbers ≥ H, W."""
    if frames.shape[-1] == 1:
        frames = frames.repeat(3, axis=-1)
    t, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))


def _write_mp4(frames: np.ndarray, path: str, fps: float, lossless: bool, crf: int) -> None:
    frames = _even_rgb(frames)
    if lossless:
        codec, pix_fmt, params = "libx264rgb", "rgb24", ["-qp", "0"]
    else:
        codec, pix_fmt, params = "libx264", "yuv420p", ["-crf", str(crf)]
    writer = _ffmpeg().write_frames(
        path,
        (frames.shape[2], frames.shape[1]),
        fps=fps,
        codec=codec,
        pix_fmt_out=pix_fmt,
        quality=None,
        macro_block_size=1,
        ffmpeg_log_level="error",
        output_params=params,
    )
    with _spawning():
        writer.send(None)  # starts ffmpeg
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()


def _write_gif(frames: np.ndarray, path: str, fps: float) -> None:
    images = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
    )


def write(
    frames: np.ndarray,
    path: str,
    fps: float = 30.0,
    *,
    scale: int = 1,
    lossless: bool = False,
    crf: int = DEFAULT_CRF,
) -> str:
    """Writes uint8 ``frames`` (T, H, W, C), C = 1 or 3, as the video ``path`` (.mp4 or
    .gif) at ``fps`` frames per second; returns ``path``."""
    ext = check_path(path, "path")
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] not in (1, 3) or not len(frames):
        raise ConfigError(f"a video takes uint8 frames (T, H, W, 1 or 3), got {frames.dtype} {frames.shape}")
    if not (fps > 0 and np.isfinite(fps)):
        raise ConfigError(f"fps={fps} must be a positive number")
    if not 0 <= crf <= 51:
        raise ConfigError(f"crf={crf} must be in 0 to 51 (lower is better; 18 is visually lossless)")
    frames = enlarge(frames, scale)
    folder, name = os.path.split(os.path.abspath(path))
    partial = os.path.join(folder, f".{name}.partial{ext}")
    try:
        if ext == ".mp4":
            _write_mp4(frames, partial, fps, lossless, crf)
        else:
            _write_gif(frames, partial, fps)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def read(path: str) -> tuple[np.ndarray, float]:
    """(frames (T, H, W, 3) uint8, frames per second) of a video ``write`` made: MP4 decoded
    by ffmpeg, GIF by Pillow (its palette expanded to RGB)."""
    if os.path.splitext(path)[1].lower() == ".gif":
        with Image.open(path) as gif:
            frames, durations = [], []
            for i in range(gif.n_frames):
                gif.seek(i)
                frames.append(np.asarray(gif.convert("RGB")))
                durations.append(gif.info.get("duration", 100))
        return np.stack(frames), 1000.0 / float(np.mean(durations))
    reader = _ffmpeg().read_frames(path)
    with _spawning():
        meta = next(reader)  # starts ffmpeg
    w, h = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]
    return np.stack(frames), float(meta["fps"])
