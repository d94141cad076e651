"""`python -m gan_jax.tools.generate`: seeds, grids, classes, truncation, interpolations, outputs, errors."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_config
from gan_jax.run import checkpoint
from gan_jax.tools import generate as gen
from gan_jax.errors import CheckpointError, ConfigError
from gan_jax.run.trainer import train_and_evaluate

CELL = 28 + 2  # tiny config: 28 px images, grids padded by 2


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory, synthetic_npz):
    """Two tiny runs: unconditional (checkpoints at 2 and 4, the best at 2) and 4-class conditional."""
    root = tmp_path_factory.mktemp("runs")
    config = load_config("tiny")
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    config.num_steps, config.checkpoint_every, config.log_every = 2, 2, 2
    uncond = str(root / "uncond")
    state = train_and_evaluate(config, uncond)
    best = checkpoint.make_best_manager(uncond)
    checkpoint.maybe_save_best(best, uncond, state, config, "fd_fmnist", 1.0, higher=False)
    best.close()
    config.num_steps = 4
    train_and_evaluate(config, uncond)
    config.num_steps, config.model.num_classes = 2, 4
    cond = str(root / "cond")
    train_and_evaluate(config, cond)
    return {"uncond": uncond, "cond": cond}


@pytest.fixture(scope="module")
def runs(workdirs):
    return {name: gen.load_run(path) for name, path in workdirs.items()}


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_parse_seeds_and_grid():
    assert gen.parse_seeds("0-3,10") == [0, 1, 2, 3, 10]
    assert gen.parse_seeds("1,5,9") == [1, 5, 9]
    assert gen.parse_seeds("0-63") == list(range(64))
    assert gen.parse_seeds(" 7 - 8 , 2") == [7, 8, 2]
    for bad in ("", "a", "3-1", "1,,2", "-1", "1.5", str(2**32)):
        with pytest.raises(ConfigError, match="--seeds"):
            gen.parse_seeds(bad)
    assert gen.parse_grid("4x8") == (4, 8) and gen.parse_grid("2X3") == (2, 3)
    for bad in ("8", "0x4", "axb", "4x"):
        with pytest.raises(ConfigError, match="--grid"):
            gen.parse_grid(bad)


def test_same_seed_same_pixels_whatever_the_order_batch_and_load(runs, workdirs):
    run = runs["uncond"]
    assert run.step == 4
    a, _ = gen.seed_images(run, [1, 2, 3])
    b, _ = gen.seed_images(run, [3, 1], batch_size=1)
    c, _ = gen.seed_images(run, list(range(10)), batch_size=4)
    np.testing.assert_array_equal(b, a[[2, 0]])
    np.testing.assert_array_equal(c[1:4], a)
    np.testing.assert_array_equal(gen.seed_images(gen.load_run(workdirs["uncond"]), [3])[0][0], a[2])
    assert a.dtype == np.uint8 and a.shape == (3, 28, 28, 1)
    assert (a[0] != a[1]).mean() > 0.1  # different seeds, different images


def test_grid_geometry_and_contents(runs, workdirs, tmp_path):
    run = runs["uncond"]
    out = str(tmp_path / "g" / "grid.png")
    assert gen.generate(workdirs["uncond"], seeds="0-5", grid="2x4", out=out, run=run) == [out]
    grid = _png(out)
    assert grid.shape == (2 * CELL + 2, 4 * CELL + 2)
    images = gen.seed_images(run, list(range(6)))[0][..., 0]
    np.testing.assert_array_equal(grid[2:30, 2:30], images[0])
    np.testing.assert_array_equal(grid[2 + CELL : 30 + CELL, 2 + CELL : 30 + CELL], images[5])
    assert not grid[2 + CELL : 30 + CELL, 2 + 2 * CELL :].any()  # cells 7 and 8 are empty
    assert _png(gen.generate(workdirs["uncond"], seeds="0-5", out=out, run=run)[0]).shape == (
        2 * CELL + 2,
        3 * CELL + 2,
    )
    with pytest.raises(ConfigError, match="has 4 cells for 6 seeds"):
        gen.generate(workdirs["uncond"], seeds="0-5", grid="2x2", out=out, run=run)


def test_outdir_and_npz(runs, workdirs, tmp_path):
    run = runs["uncond"]
    written = gen.generate(
        workdirs["uncond"], seeds="3,10", outdir=str(tmp_path / "d"), npz=str(tmp_path / "s.npz"), run=run
    )
    assert written == [str(tmp_path / "d"), str(tmp_path / "s.npz")]
    images = gen.seed_images(run, [3, 10])[0]
    assert sorted(os.listdir(tmp_path / "d")) == ["seed0003.png", "seed0010.png"]
    np.testing.assert_array_equal(_png(tmp_path / "d" / "seed0010.png"), images[1, ..., 0])
    with np.load(tmp_path / "s.npz") as f:
        assert sorted(f.files) == ["images", "labels", "seeds"]
        np.testing.assert_array_equal(f["images"], images)
        assert f["images"].dtype == np.uint8 and f["images"].shape == (2, 28, 28, 1)
        np.testing.assert_array_equal(f["seeds"], [3, 10])
        np.testing.assert_array_equal(f["labels"], [-1, -1])  # unconditional


def test_class_conditioning(runs, workdirs, tmp_path):
    run = runs["cond"]
    two, labels = gen.seed_images(run, [6, 7], class_=2)
    one, _ = gen.seed_images(run, [6, 7], class_=1)
    np.testing.assert_array_equal(labels, [2, 2])
    assert (two != one).any(axis=(1, 2, 3)).all()
    # Without --class, seed s has class s mod 4: seed 6 is class 2.
    by_seed, by_seed_labels = gen.seed_images(run, [6, 7])
    np.testing.assert_array_equal(by_seed_labels, [2, 3])
    np.testing.assert_array_equal(by_seed[0], two[0])
    gen.generate(workdirs["cond"], seeds="0-4", class_=3, npz=str(tmp_path / "c.npz"), run=run)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npz")["labels"], [3] * 5)
    with pytest.raises(ConfigError, match="out of range: the model has 4 classes"):
        gen.seed_images(run, [0], class_=4)
    with pytest.raises(ConfigError, match="unconditional"):
        gen.seed_images(runs["uncond"], [0], class_=0)


def test_truncation_changes_z_and_stays_deterministic(runs):
    run = runs["uncond"]
    full, _ = gen.seed_images(run, [0, 1])
    cut, _ = gen.seed_images(run, [0, 1], z_truncation=0.5)
    np.testing.assert_array_equal(cut, gen.seed_images(run, [1, 0], z_truncation=0.5)[0][::-1])
    assert (cut != full).any()
    with pytest.raises(ConfigError, match="--z_truncation"):
        gen.generate("unused", seeds="0", z_truncation=0.0, out="x.png")


def test_seed_interpolation_frames_strip_and_gif(runs, workdirs, tmp_path):
    run = runs["uncond"]
    paths = {k: str(tmp_path / f) for k, f in (("out", "strip.png"), ("gif", "a.gif"), ("outdir", "frames"))}
    gen.generate(workdirs["uncond"], interpolate="0,7,3", frames=5, mode="slerp", run=run, **paths)
    frames = 2 * (5 - 1) + 1  # two segments of 5 frames, the shared one once
    strip = _png(paths["out"])
    assert strip.shape == (CELL + 2, frames * CELL + 2)
    ends = gen.seed_images(run, [0, 7, 3])[0][..., 0]
    for cell, image in zip((0, 4, 8), ends):  # the path passes through the seeds' own images
        np.testing.assert_array_equal(strip[2:30, 2 + cell * CELL : 30 + cell * CELL], image)
    gif = Image.open(paths["gif"])
    assert gif.n_frames == frames and gif.size == (CELL + 2, CELL + 2)
    gif.seek(4)
    np.testing.assert_array_equal(np.asarray(gif.convert("L"))[2:30, 2:30], ends[1])
    assert len(os.listdir(paths["outdir"])) == frames
    lerped = gen.seed_interpolation(run, [0, 7, 3], 5, mode="lerp")
    slerped = gen.seed_interpolation(run, [0, 7, 3], 5, mode="slerp")
    np.testing.assert_array_equal(lerped[0, [0, 4, 8]], slerped[0, [0, 4, 8]])
    assert (lerped[0, 2] != slerped[0, 2]).any()


def test_interpolation_on_a_conditional_model_moves_the_class_too(runs):
    run = runs["cond"]
    path = gen.seed_interpolation(run, [0, 1], 4)  # classes 0 -> 1 with the seeds
    ends, _ = gen.seed_images(run, [0, 1])
    np.testing.assert_array_equal(path[0, [0, 3]], ends)
    fixed = gen.seed_interpolation(run, [0, 1], 4, class_=2)
    np.testing.assert_array_equal(fixed[0, [0, 3]], gen.seed_images(run, [0, 1], class_=2)[0])


def test_class_interpolation(runs, workdirs, tmp_path):
    run = runs["cond"]
    out, gif = str(tmp_path / "c.png"), str(tmp_path / "c.gif")
    gen.generate(
        workdirs["cond"], interpolate_classes="0,3", seeds="5,6", frames=4, out=out, gif=gif, run=run
    )
    strip = _png(out)
    assert strip.shape == (2 * CELL + 2, 4 * CELL + 2)  # one row per seed, one column per frame
    first, _ = gen.seed_images(run, [5, 6], class_=0)
    last, _ = gen.seed_images(run, [5, 6], class_=3)
    for row in range(2):
        y = 2 + row * CELL
        np.testing.assert_array_equal(strip[y : y + 28, 2:30], first[row, ..., 0])
        np.testing.assert_array_equal(strip[y : y + 28, 2 + 3 * CELL : 30 + 3 * CELL], last[row, ..., 0])
        middle = strip[y : y + 28, 2 + CELL : 30 + CELL]
        assert (middle != first[row, ..., 0]).any() and (middle != last[row, ..., 0]).any()
    animation = Image.open(gif)
    assert animation.n_frames == 4 and animation.size == (2 * CELL + 2, CELL + 2)
    with pytest.raises(ConfigError, match="unconditional"):
        gen.class_interpolation(runs["uncond"], [5], [0, 1], 4)
    with pytest.raises(ConfigError, match="--interpolate_classes=9 is out of range"):
        gen.class_interpolation(run, [5], [0, 9], 4)


def test_choosing_the_checkpoint(runs, workdirs, tmp_path):
    wd = workdirs["uncond"]
    best = gen.load_run(wd, "best")
    assert best.step == 2 and gen.load_run(wd, "2").step == 2
    np.testing.assert_array_equal(
        gen.seed_images(best, [0, 1])[0], gen.seed_images(gen.load_run(wd, "2"), [0, 1])[0]
    )
    assert (gen.seed_images(best, [0, 1])[0] != gen.seed_images(runs["uncond"], [0, 1])[0]).any()
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 3 .* it has steps \[2, 4\]"):
        gen.load_run(wd, "3")
    with pytest.raises(ConfigError, match="--checkpoint='last'"):
        gen.load_run(wd, "last")
    with pytest.raises(CheckpointError, match="no best checkpoint"):
        gen.load_run(workdirs["cond"], "best")
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        gen.load_run(str(tmp_path))
    assert not os.path.exists(tmp_path / "checkpoints")  # looking created nothing
    with pytest.raises(ConfigError, match="does not exist"):
        gen.load_run(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(seeds="0-3"), "nothing to write"),
        (dict(out="x.png"), "give --seeds"),
        (dict(seeds="0", gif="a.gif"), "--gif is for"),
        (dict(interpolate="0,1", npz="s.npz"), "--npz and --grid"),
        (dict(interpolate="0,1", interpolate_classes="0,1", out="x.png"), "not both"),
        (dict(interpolate="0,1", seeds="2", out="x.png"), "drop --seeds"),
        (dict(interpolate_classes="0,1", out="x.png"), "needs --seeds"),
        (dict(interpolate_classes="0,1", seeds="0", class_=1, out="x.png"), "drop --class"),
        (dict(interpolate="4", out="x.png"), "at least two points"),
        (dict(interpolate="0,1", frames=1, out="x.png"), "--frames=1"),
        (dict(seeds="0", batch_size=0, out="x.png"), "--batch_size"),
        (dict(seeds="0", out="grid"), "--out='grid': the file must end in .png"),
        (dict(seeds="0", out="grid.jpg"), "--out='grid.jpg': the file must end in .png"),
        (dict(interpolate="0,1", gif="a.png"), "--gif='a.png': the file must end in .gif"),
    ],
)
def test_requests_that_cannot_work_fail_before_reading_anything(options, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        gen.generate(str(tmp_path / "not_read"), **options)


def _generate_cli(tmp_path, *args, devices=1):
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": REPO,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    return subprocess.run(
        [sys.executable, "-m", "gan_jax.tools.generate", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )


def test_cli_writes_the_same_pixels_on_another_device_count(runs, workdirs, tmp_path):
    result = _generate_cli(
        tmp_path,
        "--workdir",
        workdirs["cond"],
        "--seeds",
        "3,1",
        "--class",
        "1",
        "--batch_size",
        "1",
        "--npz",
        "s.npz",
        "--out",
        "grid.png",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["wrote grid.png", "wrote s.npz"]
    in_process, _ = gen.seed_images(runs["cond"], [3, 1], class_=1)  # 8 devices here, 1 there
    with np.load(tmp_path / "s.npz") as f:
        np.testing.assert_array_equal(f["images"], in_process)
        np.testing.assert_array_equal(f["labels"], [1, 1])
    assert _png(tmp_path / "grid.png").shape == (CELL + 2, 2 * CELL + 2)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "0-x", "--out", "g.png"], "error: --seeds='0-x': expected numbers and ranges"),
        (
            ["--seeds", "0", "--class", "2", "--out", "g.png"],
            "error: --class=2: the run's model is unconditional",
        ),
    ],
)
def test_cli_user_errors_are_one_line_and_status_2(workdirs, tmp_path, args, message):
    result = _generate_cli(tmp_path, "--workdir", workdirs["uncond"], *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr[-2000:]
    assert not os.path.exists(tmp_path / "g.png")


def test_npz_without_extension_names_the_file_written(runs, tmp_path):
    written = gen.generate("unused", seeds="0-1", npz=str(tmp_path / "samples_noext"), run=runs["uncond"])
    assert written == [str(tmp_path / "samples_noext.npz")] and os.path.exists(written[0])


def test_unwritable_output_and_too_many_seeds_are_one_line(runs, tmp_path, monkeypatch):
    os.makedirs(tmp_path / "taken.png")  # a directory where the PNG should go
    with pytest.raises(ConfigError, match="cannot write .*taken.png"):
        gen.generate("unused", seeds="0", out=str(tmp_path / "taken.png"), run=runs["uncond"])
    monkeypatch.setattr(gen, "_memory_bytes", lambda: 2 * 1000 * 28 * 28)
    with pytest.raises(ConfigError, match=r"--seeds: 1,001 images of .* more than half of this machine"):
        gen.generate("unused", seeds="0-1000", npz=str(tmp_path / "s.npz"), run=runs["uncond"])
    assert not os.path.exists(tmp_path / "s.npz")


def test_former_truncation_flags_work_with_a_one_line_notice(runs, workdirs, tmp_path):
    """--truncation and --trunc were three letters apart: --z_truncation (BigGAN's z) and
    --psi (StyleGAN's w) name them now; the former names give the same pixels and one notice."""
    args = ["--workdir", workdirs["uncond"], "--seeds", "0,1", "--npz"]
    result = _generate_cli(tmp_path, *args, "old.npz", "--truncation", "0.5")
    assert result.returncode == 0, result.stderr[-2000:]
    notices = [l for l in result.stderr.splitlines() if "is now" in l]
    assert len(notices) == 1 and notices[0].endswith(
        "--truncation is now --z_truncation; the former name will go"
    )
    cut, _ = gen.seed_images(runs["uncond"], [0, 1], z_truncation=0.5)
    np.testing.assert_array_equal(np.load(tmp_path / "old.npz")["images"], cut)
    both = _generate_cli(tmp_path, *args, "b.npz", "--truncation", "0.5", "--z_truncation", "0.5")
    assert both.returncode == 2 and both.stderr.strip() == (
        "error: give --z_truncation alone: --truncation is its former name"
    )
    trunc = _generate_cli(tmp_path, *args, "p.npz", "--trunc", "0.7")
    assert trunc.returncode == 2 and "--psi and --noise_mode are for StyleGAN generators" in trunc.stderr
    assert "--trunc is now --psi" in trunc.stderr
