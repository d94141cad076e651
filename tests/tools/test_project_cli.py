"""`python -m gan_jax.tools.project` as a user runs it: a W+ projection of the generator's
own image with its files and video, and one-line refusals."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_config, tiny_stylegan2_config, untrained_generator_file
from gan_jax.run import video


def _project(*args):
    return subprocess.run(
        [sys.executable, "-m", "gan_jax.tools.project", *args], cwd=REPO, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("project")
    return {
        "stylegan2": untrained_generator_file(
            tiny_stylegan2_config(), str(root / "sg.safetensors"), shift=0.0
        ),
        "dcgan": untrained_generator_file(load_config("tiny"), str(root / "dc.safetensors"), shift=0.0),
    }


def test_projection_writes_latent_images_and_video(files, tmp_path):
    out = tmp_path / "out"
    args = ["--generator", files["stylegan2"], "--target_seed", "5", "--space", "w+", "--steps", "20"]
    done = _project(
        *args,
        "--distance",
        "l2",
        "--outdir",
        str(out),
        "--video",
        str(tmp_path / "p.gif"),
        "--video_every",
        "5",
    )
    assert done.returncode == 0, done.stderr
    assert "projected into w+ in 20 steps: l2 distance" in done.stdout
    saved = np.load(out / "projected.npz")
    assert saved["latent"].shape == (6, 8) and str(saved["space"]) == "w+"
    assert any(k.startswith("noise/") for k in saved.files)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "projected.png"))[..., None], saved["image"])
    assert np.asarray(Image.open(out / "compare.png")).shape == (20, 38)  # target | projection
    frames, _ = video.read(str(tmp_path / "p.gif"))
    assert 1 <= len(frames) <= 4  # steps 0, 5, 10, 15 (equal frames merge in a GIF)


def test_a_target_file_in_z_with_a_dcgan(files, tmp_path):
    target = tmp_path / "t.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50), dtype=np.uint8)).save(target)
    done = _project(
        "--generator",
        files["dcgan"],
        "--target",
        str(target),
        "--steps",
        "3",
        "--outdir",
        str(tmp_path / "o"),
    )
    assert done.returncode == 0, done.stderr
    assert "projected into z in 3 steps: fmnist distance" in done.stdout
    assert np.load(tmp_path / "o" / "projected.npz")["target"].shape == (28, 28, 1)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--outdir", "o"], "give --target IMAGE or --target_seed SEED"),
        (["--target_seed", "1"], "--outdir is required"),
        (["--target_seed", "1", "--outdir", "o", "--space", "w"], "--space=w needs a StyleGAN generator"),
        (["--target_seed", "1", "--outdir", "o", "--distance", "lpips"], "convert_lpips"),
        (["--target", "missing.png", "--outdir", "o"], "--target='missing.png' is not a file"),
    ],
)
def test_refusals_are_one_line(args, message, files):
    done = _project("--generator", files["dcgan"], *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in done.stderr
