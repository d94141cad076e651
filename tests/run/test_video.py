"""`gan_jax.run.video`: MP4 and GIF written and decoded back, frame for frame."""

import os
import sys

import numpy as np
import pytest

from gan_jax.errors import ConfigError
from gan_jax.run import video

pytest.importorskip("imageio_ffmpeg", reason="MP4 needs imageio-ffmpeg (pip install 'gan_jax[video]')")


def _frames(t=6, h=20, w=24, c=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, c), dtype=np.uint8)


def _smooth(t=8, size=32) -> np.ndarray:
    """Gradients that move: the content an H.264 encoder keeps well."""
    y, x = np.mgrid[0:size, 0:size]
    frames = [np.stack([x * 4 + 3 * i, y * 6, 128 + (x - y) * 2], -1) for i in range(t)]
    return np.asarray(frames, np.uint8)


def test_lossless_mp4_decodes_to_the_frames_bit_for_bit(tmp_path):
    frames = _frames()
    path = video.write(frames, str(tmp_path / "v.mp4"), fps=12, lossless=True)
    back, fps = video.read(path)
    assert fps == 12 and back.shape == frames.shape
    np.testing.assert_array_equal(back, frames)


def test_greyscale_odd_sized_frames_are_padded_to_even_and_enlarged(tmp_path):
    frames = _frames(t=3, h=7, w=9, c=1)
    back, _ = video.read(video.write(frames, str(tmp_path / "g.mp4"), lossless=True, scale=3))
    assert back.shape == (3, 22, 28, 3)  # 21 x 27 enlarged, padded to even
    np.testing.assert_array_equal(back[:, :21, :27], np.repeat(video.enlarge(frames, 3), 3, axis=-1))
    assert not back[:, 21:].any() and not back[:, :, 27:].any()


def test_default_mp4_is_close_to_the_frames(tmp_path):
    frames = _smooth()
    back, fps = video.read(video.write(frames, str(tmp_path / "v.mp4"), fps=30))
    assert back.shape == frames.shape and fps == 30
    mse = np.mean((back.astype(float) - frames) ** 2)
    assert 10 * np.log10(255**2 / mse) > 30  # PSNR in dB at crf 18
    worse, _ = video.read(video.write(frames, str(tmp_path / "w.mp4"), crf=45))
    assert np.mean((worse.astype(float) - frames) ** 2) > mse


def test_gif_round_trip(tmp_path):
    frames = _frames(t=4, c=1)
    back, fps = video.read(video.write(frames, str(tmp_path / "a.gif"), fps=10))
    assert back.shape == (4, 20, 24, 3) and fps == pytest.approx(10)
    np.testing.assert_array_equal(back, np.repeat(frames, 3, axis=-1))


def test_refusals_and_no_partial_file(tmp_path, monkeypatch):
    frames = _frames(t=2)
    for bad, match in (
        (dict(path=str(tmp_path / "v.avi")), ".mp4 or .gif"),
        (dict(frames=frames.astype(np.float32)), "uint8 frames"),
        (dict(frames=frames[:0]), "uint8 frames"),
        (dict(fps=0.0), "fps=0"),
        (dict(crf=60), "crf=60"),
        (dict(scale=0), "scale=0"),
    ):
        kwargs = dict(frames=frames, path=str(tmp_path / "v.mp4")) | bad
        with pytest.raises(ConfigError, match=match):
            video.write(**kwargs)

    def broken(frames, path, *args):
        open(path, "wb").write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(video, "_write_mp4", broken)
    with pytest.raises(OSError):
        video.write(frames, str(tmp_path / "v.mp4"))
    assert os.listdir(tmp_path) == []
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(ConfigError, match=r"imageio-ffmpeg .*or write a \.gif"):
        video.check_path("x.mp4")
    assert video.check_path("x.gif") == ".gif"
