"""notebooks/quickstart.ipynb runs end to end on the tiny config, offline, in one kernel.

Its settings come from GAN_JAX_NOTEBOOK_* environment variables, which the kernel
inherits: configs/tiny.py for 8 steps, on Debian's Fashion-MNIST files when installed
(so that fd_fmnist, which compares with Fashion-MNIST's test split, is computed), else
on the synthetic squares (and the metric cell says it is skipped).
"""

import math
import os
import re

import nbclient
import nbformat
import pytest
from PIL import Image

from conftest import FASHION_MNIST_DIR, REPO


NOTEBOOK = os.path.join(REPO, "notebooks", "quickstart.ipynb")
STEPS = 8
CELL = 28 + 2  # 28 px images, grids padded by 2


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o["output_type"] == "stream")


def _mimes(cell) -> list[str]:
    return [m for o in cell.get("outputs", []) for m in o.get("data", {})]


@pytest.fixture(scope="module")
def executed(tmp_path_factory, synthetic_npz):
    root = tmp_path_factory.mktemp("notebook")
    fashion_mnist = os.path.isdir(FASHION_MNIST_DIR)
    env = {
        "GAN_JAX_NOTEBOOK_CONFIG": "tiny",
        "GAN_JAX_NOTEBOOK_STEPS": str(STEPS),
        "GAN_JAX_NOTEBOOK_DATA": "" if fashion_mnist else synthetic_npz,
        "GAN_JAX_NOTEBOOK_EVAL_SAMPLES": "256",
        "GAN_JAX_NOTEBOOK_WORKDIR": str(root / "run"),
        "GAN_JAX_CACHE": str(root / "cache"),
        # The kernel imports this checkout's gan_jax, whatever else is installed.
        "PYTHONPATH": os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p),
        "JAX_PLATFORMS": "cpu",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        # Started in notebooks/, as Jupyter opened on the file would be.
        client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                         resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}})
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb, str(root / "run"), fashion_mnist


def _cell(nb, source_fragment: str):
    return next(c for c in nb.cells if c.cell_type == "code" and source_fragment in c.source)


def test_every_cell_ran_without_error(executed):
    nb, _, _ = executed
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o["output_type"] == "error"]
    assert f"step {STEPS} reached" in _text(_cell(nb, "train_and_evaluate("))


def test_outputs_show_the_images(executed):
    nb, _, _ = executed
    mimes = [m for c in nb.cells for m in _mimes(c)]
    # loss curves, latest training grid, seed grid, interpolation strip, restored-vs-written grids
    assert mimes.count("image/png") == 5
    assert mimes.count("image/gif") == 1
    assert "image/png" in _mimes(_cell(nb, "metrics.jsonl"))


def test_run_files_exist(executed):
    _, workdir, _ = executed
    for path in ("metrics.jsonl", "config.json", f"samples/step_{STEPS:07d}.png", f"checkpoints/{STEPS}"):
        assert os.path.exists(os.path.join(workdir, path)), path
    grid = Image.open(os.path.join(workdir, "generated", "seeds_0-63.png"))
    assert grid.size == (8 * CELL + 2, 8 * CELL + 2)
    strip = Image.open(os.path.join(workdir, "generated", "slerp_42_26_3.png"))
    assert strip.size == (15 * CELL + 2, CELL + 2)  # 2 segments of 8 frames share one
    gif = Image.open(os.path.join(workdir, "generated", "slerp_42_26_3.gif"))
    assert gif.is_animated and gif.size == (CELL + 2, CELL + 2)


def test_seed_image_and_restored_checkpoint_reproduce(executed):
    nb, workdir, _ = executed
    assert "seed 7 alone is seed 7 of the grid: True" in _text(_cell(nb, "seed_images("))
    text = _text(_cell(nb, "checkpoint.restore("))
    assert f"restored step {STEPS}; every array equals the trained state's: True" in text
    assert re.search(rf"pixels that differ from samples/step_{STEPS:07d}\.png: 0 of \d+", text)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        assert len(f.readlines()) == STEPS // 2  # tiny logs every 2 steps


def test_metric_is_computed_on_fashion_mnist(executed):
    nb, _, fashion_mnist = executed
    text = _text(_cell(nb, "make_evaluation("))
    if not fashion_mnist:
        assert "fd_fmnist skipped" in text
        pytest.skip("dataset-fashion-mnist not installed: the notebook ran on synthetic data")
    values = {name: float(v) for name, v, protocol in re.findall(
        r"(trained EMA generator|untrained generator): fd_fmnist = (\S+)  \((\S+)\)", text)}
    assert set(values) == {"trained EMA generator", "untrained generator"}
    assert all(math.isfinite(v) and v > 0 for v in values.values())
    assert "fd_fmnist_256gen_vs_test10k" in text  # the Fashion-MNIST test split as reference
