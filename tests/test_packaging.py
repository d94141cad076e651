"""The wheel, installed outside the repository: console scripts, configs by name.

Builds gan_jax's wheel (pip, which fetches setuptools for the isolated build from the
package index or its cache), installs it with ``--no-deps`` in a fresh venv whose
dependencies come from this interpreter's site-packages (a .pth line, so nothing is
downloaded again), then trains ``--config tiny`` by name from an empty folder and
samples the result with ``gan-jax-generate``.
"""

import os
import subprocess
import sys
import sysconfig

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_config_names_resolve_to_the_shipped_files_and_paths_stay(capsys):
    from gan_jax.tools import cli

    tiny = os.path.join(REPO, "configs", "tiny.py")
    assert os.path.samefile(cli.resolve_config_spec("tiny"), tiny)
    assert cli.resolve_config_spec("tiny:arg").endswith(os.path.join("configs", "tiny.py") + ":arg")
    assert cli.resolve_config_spec("configs/tiny.py") == "configs/tiny.py"
    assert cli.resolve_config_spec("/no/such/file.py:x") == "/no/such/file.py:x"
    with pytest.raises(SystemExit) as exit_:
        cli.resolve_config_spec("no_such_config")
    assert exit_.value.code == 2
    assert "neither a file nor a shipped config; shipped: biggan_cifar10" in capsys.readouterr().err


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ""}
    env.pop("XLA_FLAGS", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kw)


def test_wheel_trains_a_shipped_config_by_name_outside_the_checkout(tmp_path):
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path / "dist"),
            REPO,
        ]
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = [p for p in os.listdir(tmp_path / "dist") if p.endswith(".whl")]

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    py = venv / "bin" / "python"
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    with open(os.path.join(site.stdout.strip(), "_gan_jax_test_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")  # jax, flax, ... from this venv
    installed = _run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            str(tmp_path / "dist" / wheel),
        ]
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = _run([str(py), "-c", "import gan_jax; print(gan_jax.__file__)"], cwd=outside)
    assert str(venv) in where.stdout and REPO not in where.stdout, where.stdout + where.stderr
    page = _run(
        [str(py), "-c", "import os, gan_jax.tools.explore as e; print(os.path.isfile(e.PAGE))"], cwd=outside
    )
    assert page.stdout.strip() == "True", page.stderr[-3000:]  # the explorer's page ships as package data

    train = _run(
        [
            str(venv / "bin" / "gan-jax-train"),
            "--config",
            "tiny",
            "--workdir",
            "w",
            "--config.dataset.source=synthetic",
            "--config.num_steps=2",
            "--config.checkpoint_every=2",
            "--config.sample_every=2",
        ],
        cwd=outside,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert os.path.isdir(outside / "w" / "checkpoints" / "2")
    generated = _run(
        [str(venv / "bin" / "gan-jax-generate"), "--workdir", "w", "--seeds", "0-3", "--out", "grid.png"],
        cwd=outside,
    )
    assert generated.returncode == 0 and os.path.getsize(outside / "grid.png") > 0, generated.stderr[-3000:]

    unknown = _run(
        [str(venv / "bin" / "gan-jax-train"), "--config", "no_such_config", "--workdir", "w2"], cwd=outside
    )
    assert unknown.returncode == 2
    last = unknown.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: --config='no_such_config' is neither a file nor a shipped config")
        and "dcgan_fashion_mnist" in last
    )
