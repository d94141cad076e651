"""What every command shares (`gan_jax.tools.cli`): ``--help`` prints the usage and exits 0,
and a number given as nan, inf or beyond a float is one line with exit status 2."""

import os
import subprocess
import sys

import pytest

from conftest import REPO

COMMANDS = [
    ["train.py"],
    ["-m", "gan_jax.tools.train"],
    ["-m", "gan_jax.tools.generate"],
    ["-m", "gan_jax.tools.evaluate"],
    ["-m", "gan_jax.tools.export"],
    ["-m", "gan_jax.tools.report"],
    ["-m", "gan_jax.tools.style_figures"],
    ["-m", "gan_jax.tools.video"],
    ["-m", "gan_jax.tools.explore"],
    ["-m", "gan_jax.tools.project"],
    ["-m", "gan_jax.tools.convert_lpips"],
    ["-m", "gan_jax.tools.dataset_tool"],
    ["-m", "gan_jax.tools.posthoc_ema"],
    ["-m", "gan_jax.tools.train_classifier"],
    ["-m", "gan_jax.tools.convert_stylegan2"],
    ["-m", "gan_jax.tools.convert_r3gan"],
    ["-m", "gan_jax.tools.convert_inception"],
]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[-1])
def test_help_exits_0(command):
    done = _run(command + ["--help"])
    assert done.returncode == 0, done.stderr[-1000:]
    assert "flags" in (done.stdout + done.stderr).lower()


@pytest.mark.parametrize(
    "args, flag",
    [
        (["-m", "gan_jax.tools.generate", "--workdir", "W", "--psi", "nan"], "--psi=nan"),
        (["-m", "gan_jax.tools.generate", "--workdir", "W", "--trunc", "1e400"], "--trunc=inf"),
        (["-m", "gan_jax.tools.generate", "--workdir", "W", "--truncation", "-inf"], "--truncation=-inf"),
        (["-m", "gan_jax.tools.generate", "--workdir", "W", "--fps", "nan"], "--fps=nan"),
        (["-m", "gan_jax.tools.style_figures", "--workdir", "W", "--trunc", "nan"], "--trunc=nan"),
    ],
)
def test_non_finite_numbers_are_one_line(args, flag):
    done = _run(args + ["--out", "x.png"])
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {flag} must be a finite number"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--psi", "1e39"],
            "error: --psi=1e+39 must be a finite number in [-10, 10] (1: no truncation, 0: the average image)",
        ),
        (["--trunc", "-11"], "error: --psi=-11 must be a finite number in [-10, 10]"),
        (["--z_truncation", "0"], "error: --z_truncation=0 must be a finite positive number"),
    ],
)
def test_sampling_numbers_out_of_range_are_one_line(args, message):
    done = _run(["-m", "gan_jax.tools.generate", "--workdir", "W", "--seeds", "0", "--out", "x.png", *args])
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(message), done.stderr


def test_style_figures_refuse_an_output_they_cannot_write_before_reading(tmp_path):
    (tmp_path / "dir.png").mkdir()
    for out, message in (
        (tmp_path / "fig.jpg", "the figure is written as .png"),
        (tmp_path / "dir.png", "is a directory; give the .png file to write"),
    ):
        done = _run(
            [
                "-m",
                "gan_jax.tools.style_figures",
                "--workdir",
                str(tmp_path / "none"),
                "--psi",
                "1",
                "--out",
                str(out),
            ]
        )
        assert done.returncode == 2 and message in done.stderr.strip().splitlines()[-1], done.stderr
