"""notebooks/quickstart.ipynb runs end to end on the tiny config, offline, in one kernel.

Its settings come from GAN_JAX_NOTEBOOK_* environment variables, which the kernel
inherits: configs/tiny.py for 8 steps, on Debian's Fashion-MNIST files when installed
(so that fd_fmnist, which compares with Fashion-MNIST's test split, is computed), else
on the synthetic squares (and the metric cell says it is skipped). One test, so that
pytest-xdist runs the notebook once.
"""

import math
import os
import re

import nbclient
import nbformat
from PIL import Image

from conftest import FASHION_MNIST_DIR, REPO

NOTEBOOK = os.path.join(REPO, "notebooks", "quickstart.ipynb")
STEPS = 8
CELL = 28 + 2  # 28 px images, grids padded by 2


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")


def _mimes(cell) -> list[str]:
    return [m for o in cell.outputs for m in o.get("data", {})]


def _cell(nb, source_fragment: str):
    return next(c for c in nb.cells if c.cell_type == "code" and source_fragment in c.source)


def test_quickstart_notebook_runs_offline(tmp_path, synthetic_npz, monkeypatch):
    fashion_mnist = os.path.isdir(FASHION_MNIST_DIR)
    workdir = str(tmp_path / "run")
    for name, value in {
        "GAN_JAX_NOTEBOOK_CONFIG": "tiny",
        "GAN_JAX_NOTEBOOK_STEPS": str(STEPS),
        "GAN_JAX_NOTEBOOK_DATA": "" if fashion_mnist else synthetic_npz,
        "GAN_JAX_NOTEBOOK_EVAL_SAMPLES": "256",
        "GAN_JAX_NOTEBOOK_WORKDIR": workdir,
        "GAN_JAX_CACHE": str(tmp_path / "cache"),
        # The kernel imports this checkout's gan_jax, whatever else is installed.
        "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p),
        "JAX_PLATFORMS": "cpu",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Started in notebooks/, as Jupyter opened on the file would be; a failing cell raises.
    nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}}
    ).execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o["output_type"] == "error"]
    assert f"step {STEPS} reached" in _text(_cell(nb, "train_and_evaluate("))

    # Loss curves, latest training grid, seed grid, interpolation strip, restored-vs-written grids.
    mimes = [m for c in code for m in _mimes(c)]
    assert mimes.count("image/png") == 5 and mimes.count("image/gif") == 1
    assert "image/png" in _mimes(_cell(nb, "metrics.jsonl"))

    for path in ("config.json", f"samples/step_{STEPS:07d}.png", f"checkpoints/{STEPS}"):
        assert os.path.exists(os.path.join(workdir, path)), path
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        assert len(f.readlines()) == STEPS // 2  # tiny logs every 2 steps
    assert Image.open(os.path.join(workdir, "generated", "seeds_0-63.png")).size == (8 * CELL + 2,) * 2
    strip = Image.open(os.path.join(workdir, "generated", "slerp_42_26_3.png"))
    assert strip.size == (15 * CELL + 2, CELL + 2)  # 2 segments of 8 frames share one
    gif = Image.open(os.path.join(workdir, "generated", "slerp_42_26_3.gif"))
    assert gif.is_animated and gif.size == (CELL + 2, CELL + 2)

    assert "seed 7 alone is seed 7 of the grid: True" in _text(_cell(nb, "seed_images("))
    restored = _text(_cell(nb, "checkpoint.restore("))
    assert f"restored step {STEPS}; every array equals the trained state's: True" in restored
    assert re.search(rf"pixels that differ from samples/step_{STEPS:07d}\.png: 0 of \d+", restored)

    metric = _text(_cell(nb, "make_evaluation("))
    if not fashion_mnist:
        assert "fd_fmnist skipped" in metric
        return
    values = dict(re.findall(r"(trained EMA generator|untrained generator): fd_fmnist = (\S+)  ", metric))
    assert set(values) == {"trained EMA generator", "untrained generator"}
    assert all(math.isfinite(float(v)) and float(v) > 0 for v in values.values())
    assert "fd_fmnist_256gen_vs_test10k" in metric  # Fashion-MNIST's 10k test images as reference
