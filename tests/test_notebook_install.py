"""The quickstart notebook's install cell: one repository URL, the pip command of each
runtime, and a real install from a clone of this repository into a fresh venv.

The cell is read from notebooks/quickstart.ipynb and executed as it stands, with only its
``REPO_URL`` and ``REPO_REF`` lines replaced. The real install clones this repository's
committed files into a temporary folder and runs the cell in a venv whose dependencies are
this interpreter's (a .pth line to a folder of links to its site-packages, gan_jax left out),
so that pip finds them installed and downloads none; it builds gan_jax's wheel in an
isolated build environment, with setuptools from the package index or pip's cache.
"""

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import types

import nbformat
import pytest

from conftest import REPO

NOTEBOOK = os.path.join(REPO, "notebooks", "quickstart.ipynb")
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w./-]+?\.ipynb")
URL_LINE = re.compile(r'^REPO_URL = "(.*)"$', re.M)
REF_LINE = re.compile(r'^REPO_REF = "(.*)"$', re.M)


def _notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def _install_cell() -> str:
    return next(
        c.source for c in _notebook().cells if c.cell_type == "code" and "def pip_command(" in c.source
    )


def _cell_namespace() -> dict:
    """The install cell's functions; its closing `install()` finds this checkout's gan_jax."""
    namespace = {"__name__": "install_cell"}
    exec(compile(_install_cell(), "install cell", "exec"), namespace)
    return namespace


def test_repository_url_is_set_once_at_the_top_and_the_colab_links_follow_it(capsys):
    nb = _notebook()
    code = [c for c in nb.cells if c.cell_type == "code"]
    cell = _install_cell()
    assert cell == code[0].source  # the first code cell
    first_lines = [line for line in cell.splitlines() if line and not line.startswith("#")][:2]
    assert URL_LINE.match(first_lines[0]) and REF_LINE.match(first_lines[1]), first_lines
    for pattern in (URL_LINE, REF_LINE):
        assert len(pattern.findall(cell)) == 1
        assert not [c for c in code[1:] if pattern.search(c.source)]
    url, ref = URL_LINE.search(cell).group(1), REF_LINE.search(cell).group(1)
    owner_name = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", url).group(1)
    colab = f"https://colab.research.google.com/github/{owner_name}/blob/{ref}/notebooks/quickstart.ipynb"
    for path in ("README.md", os.path.join("docs", "notebook.md")):
        with open(os.path.join(REPO, path)) as f:
            links = COLAB_LINK.findall(f.read())
        assert links and set(links) == {colab}, (path, links)
    assert COLAB_LINK.findall(nb.cells[0].source) == [colab]

    namespace = _cell_namespace()
    with open(os.path.join(REPO, "constraints.txt")) as f:
        assert f"jax=={namespace['JAX_VERSION']}\n" in f.read()
    # Here gan_jax is importable: the cell installs nothing.
    import gan_jax

    here = os.path.dirname(gan_jax.__file__)
    assert capsys.readouterr().out == f"gan_jax is importable from {here}: nothing to install\n"


def test_runtime_detection(tmp_path, monkeypatch):
    detect = _cell_namespace()["detect_runtime"]
    dev, bin_dir = tmp_path / "dev", tmp_path / "bin"
    dev.mkdir()
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    for name in ("COLAB_TPU_ADDR", "TPU_NAME", "TPU_ACCELERATOR_TYPE"):
        monkeypatch.delenv(name, raising=False)
    assert detect(str(dev)) == "cpu"

    (dev / "nvidia0").touch()
    assert detect(str(dev)) == "gpu"
    (dev / "nvidia0").unlink()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    assert detect(str(dev)) == "gpu"

    monkeypatch.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")  # a TPU comes first
    assert detect(str(dev)) == "tpu"
    monkeypatch.delenv("COLAB_TPU_ADDR")
    (dev / "accel0").touch()
    assert detect(str(dev)) == "tpu"
    (dev / "accel0").unlink()
    (dev / "vfio").mkdir()
    (dev / "vfio" / "vfio").touch()  # the vfio control device alone is no TPU
    assert detect(str(dev)) == "gpu"
    (dev / "vfio" / "0").touch()
    assert detect(str(dev)) == "tpu"


def test_pip_command_of_each_runtime(capsys):
    namespace = _cell_namespace()
    capsys.readouterr()
    pip_command, jax_version = namespace["pip_command"], namespace["JAX_VERSION"]
    url, ref = "https://github.com/someone/gan_jax", "v1"
    base = [sys.executable, "-m", "pip", "install", "--quiet", f"gan_jax @ git+{url}@{ref}"]

    assert pip_command("cpu", url, ref) == base
    assert pip_command("gpu", url, ref) == base + [f"jax[cuda12]=={jax_version}"]
    colab_tpu = {"jax": "0.7.2", "jaxlib": "0.7.2", "libtpu": "0.0.21"}
    assert pip_command("tpu", url, ref, colab_tpu) == base + ["jax==0.7.2", "jaxlib==0.7.2", "libtpu==0.0.21"]
    assert pip_command("tpu", url, ref, {}) == base + [f"jax[tpu]=={jax_version}"]  # no jax yet
    # Without versions given, those installed here are held.
    here = namespace["installed_versions"]()
    for name in ("jax", "jaxlib"):
        assert here[name] == importlib.metadata.version(name)
    assert pip_command("tpu", url, ref)[len(base) :] == [f"{n}=={v}" for n, v in here.items()]
    assert pip_command("cpu")[-1] == f"gan_jax @ git+{namespace['REPO_URL']}@{namespace['REPO_REF']}"

    # A dry run where gan_jax is not importable prints the command and runs nothing.
    namespace["importlib"] = types.SimpleNamespace(util=types.SimpleNamespace(find_spec=lambda name: None))
    namespace["detect_runtime"] = lambda: "gpu"
    namespace["subprocess"] = None
    namespace["install"](dry_run=True)
    assert capsys.readouterr().out == f"runtime: gpu\n$ {shlex.join(pip_command('gpu'))}\n"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": "",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }
    env.pop("XLA_FLAGS", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kw)


OFFLINE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found for setuptools",
)


def test_install_cell_installs_from_a_clone_in_a_fresh_venv(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("no git: pip installs gan_jax from a git URL")
    if _run(["git", "-C", REPO, "rev-parse", "--git-dir"]).returncode:
        pytest.skip(f"{REPO} is not a git checkout")
    runtime = _cell_namespace()["detect_runtime"]()
    if runtime != "cpu":
        pytest.skip(f"a {runtime} runtime: the cell would download JAX's {runtime} build")

    clone = tmp_path / "clone" / "gan_jax"
    cloned = _run(["git", "clone", "--quiet", REPO, str(clone)])  # not shallow: pip clones it again
    assert cloned.returncode == 0, cloned.stderr
    ref = _run(["git", "-C", str(clone), "rev-parse", "--abbrev-ref", "HEAD"]).stdout.strip()
    if ref == "HEAD":  # a detached checkout: its commit
        ref = _run(["git", "-C", str(clone), "rev-parse", "HEAD"]).stdout.strip()
    url = f"file://localhost{clone}"  # a host: pip's parser rejects git+file:/// in `name @ url`

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    python = str(venv / "bin" / "python")
    # This interpreter's packages, pip included, all but gan_jax itself.
    deps = tmp_path / "deps"
    deps.mkdir()
    for site in dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")):
        for name in os.listdir(site):
            if not name.lower().startswith(("gan_jax", "__editable__")) and not (deps / name).exists():
                os.symlink(os.path.join(site, name), deps / name)
    venv_site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    venv_site = venv_site.stdout.strip()
    with open(os.path.join(venv_site, "_gan_jax_test_deps.pth"), "w") as f:
        f.write(f"{deps}\n")

    cell = _install_cell()
    cell = URL_LINE.sub(lambda _: f"REPO_URL = {url!r}", cell, count=1)
    cell = REF_LINE.sub(lambda _: f"REPO_REF = {ref!r}", cell, count=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = elsewhere / "install_cell.py"
    script.write_text(cell)
    assert _run([python, "-c", "import gan_jax"], cwd=elsewhere).returncode == 1  # not there yet

    ran = _run([python, str(script)], cwd=elsewhere)
    output = ran.stdout + ran.stderr
    if ran.returncode and any(s in output for s in OFFLINE):
        pytest.skip(f"pip could not reach the package index for the build requirements: {output[-500:]}")
    assert ran.returncode == 0, output[-3000:]
    command = [python, "-m", "pip", "install", "--quiet", f"gan_jax @ git+{url}@{ref}"]
    assert ran.stdout.startswith(f"runtime: cpu\n$ {shlex.join(command)}\n"), ran.stdout
    installed_at = os.path.join(venv_site, "gan_jax")
    assert re.search(rf"^installed gan_jax \S+ in {re.escape(installed_at)}$", ran.stdout, re.M), ran.stdout

    where = _run(
        [
            python,
            "-c",
            "import gan_jax, gan_jax.tools.cli; print(gan_jax.__file__); print(gan_jax.tools.cli.shipped_configs_dir())",
        ],
        cwd=elsewhere,
    )
    assert where.returncode == 0, where.stderr[-3000:]
    package, configs = where.stdout.split()
    assert package == os.path.join(installed_at, "__init__.py")
    assert configs == os.path.join(installed_at, "configs")
    assert {"tiny.py", "dcgan_fashion_mnist.py"} <= set(os.listdir(configs))

    again = _run([python, str(script)], cwd=elsewhere)
    assert again.returncode == 0
    assert again.stdout == f"gan_jax is importable from {installed_at}: nothing to install\n"
