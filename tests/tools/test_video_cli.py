"""`python -m gan_jax.tools.video` as a user runs it: a StyleGAN2 walk in W as lossless MP4
with its frame strip, a conditional DCGAN's grid of walks in z as a GIF, and one-line
refusals. (The checkpoint side, ``--workdir``, is run in tests/run/test_read_only.py.)"""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import gan_jax
from conftest import REPO, load_config, tiny_stylegan2_config, untrained_generator_file
from gan_jax.run import video


def _video(*args):
    return subprocess.run(
        [sys.executable, "-m", "gan_jax.tools.video", *args], cwd=REPO, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("video")
    dcgan = load_config("tiny")
    dcgan.model.num_classes = 4
    return {
        "stylegan2": untrained_generator_file(tiny_stylegan2_config(), str(root / "sg.safetensors")),
        "dcgan": untrained_generator_file(dcgan, str(root / "dc.safetensors"), shift=0.0),
    }


def test_stylegan_walk_as_lossless_mp4_and_strip(files, tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="MP4 needs imageio-ffmpeg (pip install 'gan_jax[video]')")
    out, strip = tmp_path / "walk.mp4", tmp_path / "strip.png"
    args = ["--generator", files["stylegan2"], "--seeds", "3,8,5", "--frames", "4", "--loop", "--lossless"]
    done = _video(*args, "--scale", "2", "--fps", "24", "--out", str(out), "--strip", str(strip))
    assert done.returncode == 0, done.stderr
    assert f"wrote {out} (9 frames of 16x16)" in done.stdout
    frames, fps = video.read(str(out))
    assert frames.shape == (9, 32, 32, 3) and fps == 24  # 3 segments of 4 frames, looped
    gen = gan_jax.load_generator(files["stylegan2"])
    for index, seed in ((0, 3), (3, 8), (6, 5)):
        np.testing.assert_array_equal(frames[index, ::2, ::2, 0], gen(seeds=[seed])[0, ..., 0])
    assert np.asarray(Image.open(strip)).shape == (2 * (16 + 12), 2 * (8 * 22 + 6))  # 8 frames, 6 px apart


def test_conditional_grid_of_walks_as_gif(files, tmp_path):
    out = tmp_path / "walks.gif"
    done = _video(
        "--generator", files["dcgan"], "--seeds", "0-3", "--grid", "1x2", "--frames", "3", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    frames, _ = video.read(str(out))
    assert frames.shape[1:] == (32, 62, 3)  # 1 x 2 cells of 28 px, padded by 2
    gen = gan_jax.load_generator(files["dcgan"])
    np.testing.assert_array_equal(frames[0, 2:30, 2:30, 0], gen(seeds=[0])[0, ..., 0])  # cell 0 walks 0 → 2
    np.testing.assert_array_equal(frames[0, 2:30, 32:60, 0], gen(seeds=[1])[0, ..., 0])  # cell 1 walks 1 → 3
    np.testing.assert_array_equal(frames[-1, 2:30, 32:60, 0], gen(seeds=[3])[0, ..., 0])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "0,1", "--out", "v.avi"], "a video is written as .mp4 or .gif"),
        (["--seeds", "0,1", "--out", "v.gif", "--space", "w"], "a walk in W needs a StyleGAN generator"),
        (["--seeds", "0,1", "--out", "v.gif", "--psi", "0.5"], "--psi and --noise_mode are for StyleGAN"),
        (["--seeds", "0,1", "--out", "v.gif", "--class", "7"], "--class=7 is out of range"),
        (["--seeds", "0-2", "--grid", "1x2", "--out", "v.gif"], "multiple of 2 seeds"),
        (["--out", "v.gif"], "give --seeds"),
    ],
)
def test_refusals_are_one_line(args, message, files, tmp_path):
    done = _video("--generator", files["dcgan"], *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1
