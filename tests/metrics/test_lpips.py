"""LPIPS (`gan_jax.metrics.lpips`), its converter and command line: the distance against
a float64 NumPy re-implementation of the equation, its properties (zero on equal images,
symmetric, grey = repeated RGB, finite gradients), the weights file checks, and parity
with the ``lpips`` package.

The parity tests need a Python with torch and the ``lpips`` package (``pip install
lpips``), named by ``GAN_JAX_TORCH_PYTHON``; they skip, saying why, without it.
`benchmarks/peers/lpips_reference.py` builds ``lpips.LPIPS(net='vgg')`` there with the
heads the package ships and a random trunk (nothing is downloaded) and writes its state
dict and distances; both conversion paths (the package's state dict, and torchvision
names plus the heads file) must reproduce them.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from conftest import REPO
from gan_jax.convert import lpips as convert_lpips
from gan_jax.data.files import load_arrays
from gan_jax.errors import ConfigError
from gan_jax.metrics import lpips
from gan_jax.tools import convert_lpips as tool

TORCH_PYTHON = os.environ.get("GAN_JAX_TORCH_PYTHON", "")
REFERENCE = os.path.join(REPO, "benchmarks", "peers", "lpips_reference.py")
FEATURE_INDICES = {1: (0, 2), 2: (5, 7), 3: (10, 12, 14), 4: (17, 19, 21), 5: (24, 26, 28)}


@pytest.fixture(scope="module")
def params():
    return lpips.random_params(jax.random.key(0))


@pytest.fixture(scope="module")
def jit_distance():
    return jax.jit(lpips.distance)


def images(shape, seed):
    return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)


def flat_numpy(params) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in traverse_util.flatten_dict(params, sep="/").items()}


def torch_state(params, naming: str = "lpips") -> dict[str, np.ndarray]:
    """``params`` as the lpips package (or torchvision + the heads file) names and lays them out."""
    flat, state = flat_numpy(params), {}
    for block, indices in FEATURE_INDICES.items():
        for i, index in enumerate(indices):
            prefix = f"net.slice{block}.{index}" if naming == "lpips" else f"features.{index}"
            state[f"{prefix}.weight"] = flat[f"conv{block}_{i + 1}/kernel"].transpose(3, 2, 0, 1)
            state[f"{prefix}.bias"] = flat[f"conv{block}_{i + 1}/bias"]
    for k in range(5):
        state[f"lin{k}.model.1.weight"] = flat[f"lin{k}"].reshape(1, -1, 1, 1)
    if naming == "lpips":
        state.update({f"lins.{k}.model.1.weight": state[f"lin{k}.model.1.weight"] for k in range(5)})
        state["scaling_layer.shift"] = np.float32([-0.030, -0.088, -0.188]).reshape(1, 3, 1, 1)
        state["scaling_layer.scale"] = np.float32([0.458, 0.448, 0.450]).reshape(1, 3, 1, 1)
    else:
        state["classifier.6.bias"] = np.zeros(10, np.float32)
    return state


def assert_params_equal(a, b) -> None:
    fa, fb = flat_numpy(a), flat_numpy(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)


# ----------------------------------------------------------------------------
# The distance


def numpy_lpips(flat: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The equation in float64 NumPy: scaling, VGG16 to relu5_3, unit norm, heads, means."""
    flat = {k: v.astype(np.float64) for k, v in flat.items()}

    def conv_relu(h, name):
        padded, (height, width) = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0))), h.shape[1:3]
        kernel = flat[f"{name}/kernel"]
        out = sum(
            np.einsum("bhwi,io->bhwo", padded[:, i : i + height, j : j + width], kernel[i, j])
            for i in range(3)
            for j in range(3)
        )
        return np.maximum(out + flat[f"{name}/bias"], 0.0)

    def features(img):
        h = (img - np.array([-0.030, -0.088, -0.188])) / np.array([0.458, 0.448, 0.450])
        out = []
        for block, n in enumerate((2, 2, 3, 3, 3)):
            if block:
                b, hh, ww, c = h.shape
                h = h[:, : hh // 2 * 2, : ww // 2 * 2].reshape(b, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))
            for i in range(n):
                h = conv_relu(h, f"conv{block + 1}_{i + 1}")
            out.append(h)
        return out

    total = np.zeros(x.shape[0])
    for k, (a, b) in enumerate(zip(features(x), features(y))):
        a = a / (np.sqrt(np.sum(a**2, -1, keepdims=True)) + 1e-10)
        b = b / (np.sqrt(np.sum(b**2, -1, keepdims=True)) + 1e-10)
        total += np.mean(np.sum((a - b) ** 2 * flat[f"lin{k}"], -1), axis=(1, 2))
    return total


def test_layout():
    shapes = {k: v.shape for k, v in traverse_util.flatten_dict(lpips.abstract_params(), sep="/").items()}
    assert len(shapes) == 13 * 2 + 5
    assert shapes["conv1_1/kernel"] == (3, 3, 3, 64) and shapes["conv5_3/kernel"] == (3, 3, 512, 512)
    assert [shapes[f"lin{k}"] for k in range(5)] == [(c,) for c in lpips.CHANNELS]
    assert sum(np.prod(s) for k, s in shapes.items() if k.startswith("conv")) == 14_714_688  # VGG16's
    assert jax.tree.structure(lpips.abstract_params()) == jax.tree.structure(
        lpips.random_params(jax.random.key(1))
    )


@pytest.fixture(scope="module")
def pair():
    return images((2, 20, 20, 3), 1), images((2, 20, 20, 3), 2)  # 20 → 10 → 5 → 2 (floor) → 1


def test_matches_the_equation_in_numpy(params, jit_distance, pair):
    x, y = pair
    got = jit_distance(params, x, y)
    assert got.shape == (2,) and got.dtype == jnp.float32
    want = numpy_lpips(flat_numpy(params), np.asarray(x, np.float64), np.asarray(y, np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_zero_on_equal_images_symmetric_and_positive(params, jit_distance, pair):
    x, y = pair
    assert float(jnp.max(jnp.abs(jit_distance(params, x, x)))) < 1e-12  # 0, or 1 ulp of rounding apart
    np.testing.assert_allclose(jit_distance(params, x, y), jit_distance(params, y, x), rtol=1e-6)
    assert float(jnp.min(jit_distance(params, x, y))) > 0


def test_grey_is_repeated_rgb(params, jit_distance, pair):
    x, y = (jnp.mean(a, -1, keepdims=True) for a in pair)
    rgb = jit_distance(params, jnp.repeat(x, 3, -1), jnp.repeat(y, 3, -1))
    np.testing.assert_allclose(jit_distance(params, x, y), rgb, rtol=1e-6)


def test_gradients_are_finite(params, pair):
    x, y = pair
    grad = jax.jit(jax.grad(lambda a, b, p: lpips.distance(p, a, b).sum()))
    g = grad(x, y, params)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.max(jnp.abs(g))) > 0
    assert bool(jnp.all(jnp.isfinite(grad(x, x, params))))
    zero = jax.grad(lambda f: lpips.unit_normalize(f).sum())(jnp.zeros((1, 2, 2, 8)))
    assert bool(jnp.all(jnp.isfinite(zero)))


def test_rejects_mismatched_images(params):
    with pytest.raises(ValueError, match="one shape"):
        lpips.distance(params, jnp.zeros((1, 8, 8, 3)), jnp.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="1\\|3"):
        lpips.distance(params, jnp.zeros((1, 8, 8, 2)), jnp.zeros((1, 8, 8, 2)))


# ----------------------------------------------------------------------------
# The weights file and the converter


def test_save_load_roundtrip(params, tmp_path):
    lpips.save_params(params, str(tmp_path / "lpips.npz"))
    assert_params_equal(lpips.load_params(str(tmp_path / "lpips.npz")), params)
    from safetensors.numpy import save_file

    save_file(flat_numpy(params), str(tmp_path / "lpips.safetensors"))
    assert_params_equal(lpips.load_params(str(tmp_path / "lpips.safetensors")), params)


def test_load_rejects_wrong_files(params, tmp_path):
    flat = flat_numpy(params)
    cases = {
        "missing": (
            {k: v for k, v in flat.items() if k != "conv3_2/bias"},
            "lacks the LPIPS tensor conv3_2/bias",
        ),
        "shape": (
            {**flat, "lin2": np.zeros(255, np.float32)},
            "lin2 has shape \\(255,\\), expected \\(256,\\)",
        ),
        "extra": ({**flat, "fc/kernel": np.zeros(3, np.float32)}, "has fc/kernel"),
    }
    for name, (arrays, message) in cases.items():
        path = str(tmp_path / f"{name}.npz")
        np.savez(path, **arrays)
        with pytest.raises(ConfigError, match=message) as error:
            lpips.load_params(path)
        assert path in str(error.value) and "\n" not in str(error.value)


def test_converter_reads_both_namings(params):
    assert_params_equal(convert_lpips.from_state_dict(torch_state(params, "lpips")), params)
    assert_params_equal(convert_lpips.from_state_dict(torch_state(params, "torchvision")), params)
    plain = {
        k.replace(".model.1.", ".model.0."): v for k, v in torch_state(params, "torchvision").items()
    }  # heads built without dropout
    assert_params_equal(convert_lpips.from_state_dict(plain), params)


def test_converter_rejects_wrong_state_dicts(params):
    state = torch_state(params, "lpips")
    cases = [
        ({k: v for k, v in state.items() if k != "net.slice3.12.bias"}, "missing tensor net.slice3.12.bias"),
        (
            {k: v for k, v in torch_state(params, "torchvision").items() if not k.startswith("lin")},
            "missing tensor lin0.model.1.weight \\(the linear heads",
        ),
        ({**state, "net.slice1.2.weight": np.zeros((64, 64, 1, 1))}, "net.slice1.2.weight has shape"),
        ({**state, "net.slice6.30.weight": np.zeros(1)}, "unexpected tensor net.slice6.30.weight"),
        ({**state, "scaling_layer.scale": np.ones((1, 3, 1, 1))}, "scaling_layer.scale is"),
        ({**state, "lins.2.model.1.weight": np.zeros((1, 256, 1, 1))}, "lins.2.model.1.weight differs"),
        ({"fc.weight": np.zeros(1)}, "not an LPIPS VGG16 state dict"),
    ]
    for arrays, message in cases:
        with pytest.raises(ConfigError, match=message) as error:
            convert_lpips.from_state_dict(arrays)
        assert "\n" not in str(error.value)


def test_tool_converts_torchvision_features_and_heads(params, tmp_path):
    state = torch_state(params, "torchvision")
    features = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    heads = {k: v for k, v in state.items() if k.startswith("lin")}
    np.savez(tmp_path / "vgg16.npz", **features)  # as m.features.state_dict() names them
    np.savez(tmp_path / "heads.npz", **heads)
    out = str(tmp_path / "out" / "lpips_vgg.npz")
    assert tool.convert_files(str(tmp_path / "vgg16.npz"), str(tmp_path / "heads.npz"), out) == 14_716_160
    assert_params_equal(lpips.load_params(out), params)
    with pytest.raises(ConfigError, match="lin0.model.1.weight is in both"):
        tool.read_sources(str(tmp_path / "heads.npz"), str(tmp_path / "heads.npz"))


def test_tool_error_is_one_line(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    args = ["-m", "gan_jax.tools.convert_lpips", "--src", str(tmp_path / "absent.npz")]
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "absent.npz: no such file" in done.stderr


# ----------------------------------------------------------------------------
# Parity with the lpips package


def peer_problem() -> str:
    """Why the ``lpips`` package cannot be run, or '' when it can."""
    if not TORCH_PYTHON:
        return "GAN_JAX_TORCH_PYTHON is unset (a Python with torch and the lpips package)"
    if not os.path.exists(TORCH_PYTHON):
        return f"GAN_JAX_TORCH_PYTHON={TORCH_PYTHON!r} does not exist"
    probe = [TORCH_PYTHON, "-c", "import torch, torchvision, lpips"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=300)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"{TORCH_PYTHON} cannot import torch, torchvision and lpips (pip install lpips): {last}"
    return ""


def parity_images() -> dict[str, np.ndarray]:
    """Pairs at 64 and 32 px: smooth random images and noisier copies, from barely to very different."""
    rng, out = np.random.default_rng(0), {}
    for size in (64, 32):
        coarse = rng.uniform(-1, 1, (4, size // 8, size // 8, 3))
        x = np.clip(coarse.repeat(8, 1).repeat(8, 2) + 0.2 * rng.normal(size=(4, size, size, 3)), -1, 1)
        sigma = np.array([0.02, 0.1, 0.4, 1.0]).reshape(4, 1, 1, 1)
        out[f"x_{size}"] = x.astype(np.float32)
        out[f"y_{size}"] = np.clip(x + sigma * rng.normal(size=x.shape), -1, 1).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    problem = peer_problem()
    if problem:
        pytest.skip(f"lpips peer absent: {problem}")
    work = tmp_path_factory.mktemp("lpips_peer")
    np.savez(work / "images.npz", **parity_images())
    args = [TORCH_PYTHON, REFERENCE, "--images", str(work / "images.npz"), "--out", str(work)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the lpips reference failed: {done.stderr[-2000:]}"
    return work


def converted(work, source: str, tmp_path):
    if source == "lpips":
        return convert_lpips.from_state_dict(load_arrays(str(work / "lpips_state.npz")))
    state = load_arrays(str(work / "lpips_state.npz"))
    renamed = {}
    for block, indices in FEATURE_INDICES.items():
        for index in indices:
            for leaf in ("weight", "bias"):
                renamed[f"features.{index}.{leaf}"] = state[f"net.slice{block}.{index}.{leaf}"]
    np.savez(tmp_path / "vgg16.npz", **renamed)
    tool.convert_files(str(tmp_path / "vgg16.npz"), str(work / "heads.npz"), str(tmp_path / "lpips.npz"))
    return lpips.load_params(str(tmp_path / "lpips.npz"))


@pytest.mark.parametrize("source", ["lpips", "torchvision"])
def test_matches_the_lpips_package(reference, source, jit_distance, tmp_path):
    pairs, want = load_arrays(str(reference / "images.npz")), load_arrays(str(reference / "distances.npz"))
    params = converted(reference, source, tmp_path)
    for size in (64, 32):
        got = np.asarray(jit_distance(params, pairs[f"x_{size}"], pairs[f"y_{size}"]))
        diff = np.abs(got - want[f"d_{size}"])
        print(
            f"{source} {size}px: lpips {want[f'd_{size}'].tolist()}, max abs diff {diff.max():.3g}, "
            f"max rel diff {(diff / np.abs(want[f'd_{size}'])).max():.3g}, "
            f"vs float64 torch {np.abs(got - want[f'd64_{size}']).max():.3g}"
        )
        np.testing.assert_allclose(got, want[f"d_{size}"], rtol=1e-5, atol=1e-7)
