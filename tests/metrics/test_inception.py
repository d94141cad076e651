"""The Flax FID Inception: published layout, converter checks, resize, pooling, a forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import random_inception_state_dict as random_state_dict
from gan_jax.errors import GanJaxError
from gan_jax.metrics import inception
from gan_jax.convert import inception as convert_inception

# Facts of the published pytorch-fid network (torchvision Inception3, 1008 classes, no aux head).
PUBLISHED_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_4a_3x3.bn.running_var": (192,),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6e.branch7x7_2.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


def test_layout_matches_the_published_network():
    layout = inception.torch_layout()
    assert len(layout) == 94 * 5 + 2  # 94 conv+BN units, the fc weight and bias
    for name, shape in PUBLISHED_SHAPES.items():
        assert layout[name][1] == shape, name
    trainable = sum(
        np.prod(s) for n, (_, s) in layout.items() if not n.endswith(("running_mean", "running_var"))
    )
    assert trainable == 23_850_960


def test_converter_roundtrip_and_forward(tmp_path):
    state = random_state_dict()
    np.savez(tmp_path / "published.npz", **state)
    params = convert_inception.convert(convert_inception.read_state_dict(str(tmp_path / "published.npz")))
    np.savez(tmp_path / "converted.npz", **params)
    loaded = inception.load_params(str(tmp_path / "converted.npz"))
    np.testing.assert_array_equal(
        loaded["Conv2d_1a_3x3"]["kernel"], state["Conv2d_1a_3x3.conv.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(loaded["fc_kernel"], state["fc.weight"].T)
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    pool3, logits = jax.jit(inception.features_fn(loaded))(images)
    assert pool3.shape == (2, 2048) and logits.shape == (2, 1008)
    assert np.isfinite(np.asarray(pool3)).all() and float(jnp.min(pool3)) >= 0  # after ReLU
    np.testing.assert_allclose(logits, np.asarray(pool3) @ state["fc.weight"].T, rtol=1e-4, atol=1e-4)


def test_converter_rejects_wrong_files(tmp_path):
    state = random_state_dict()
    missing = dict(state)
    del missing["Mixed_6b.branch1x1.bn.running_mean"]
    with pytest.raises(GanJaxError, match="missing parameter Mixed_6b.branch1x1.bn.running_mean"):
        convert_inception.convert(missing)
    wrong = dict(state, **{"fc.weight": np.zeros((1000, 2048), np.float32)})
    with pytest.raises(GanJaxError, match=r"fc.weight has shape \(1000, 2048\), expected \(1008, 2048\)"):
        convert_inception.convert(wrong)
    extra = dict(state, **{"AuxLogits.fc.weight": np.zeros((1008, 768), np.float32)})
    with pytest.raises(GanJaxError, match="unexpected parameter AuxLogits.fc.weight"):
        convert_inception.convert(extra)


def test_missing_weights_say_where_to_get_them(monkeypatch):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    with pytest.raises(GanJaxError, match="pt_inception-2015-12-05.*convert_inception"):
        inception.load_params()


def torch_bilinear(x, size):
    """PyTorch's bilinear interpolation with align_corners=False, written out per pixel."""
    n, h, w, c = x.shape
    out = np.empty((n, size, size, c), np.float64)

    def taps(length, i):
        src = max((i + 0.5) * length / size - 0.5, 0.0)
        i0 = min(int(np.floor(src)), length - 1)
        i1 = min(i0 + 1, length - 1)
        return i0, i1, src - i0

    for oy in range(size):
        y0, y1, ly = taps(h, oy)
        for ox in range(size):
            x0, x1, lx = taps(w, ox)
            top = (1 - lx) * x[:, y0, x0] + lx * x[:, y0, x1]
            bottom = (1 - lx) * x[:, y1, x0] + lx * x[:, y1, x1]
            out[:, oy, ox] = (1 - ly) * top + ly * bottom
    return out


@pytest.mark.parametrize("size_in, size_out", [(28, 61), (32, 299), (97, 40)])
def test_resize_matches_pytorch_bilinear(size_in, size_out):
    x = np.random.default_rng(size_in).uniform(size=(2, size_in, size_in, 3))
    got = np.asarray(inception.resize_bilinear(jnp.asarray(x, jnp.float32), size_out))
    np.testing.assert_allclose(got, torch_bilinear(x, size_out), atol=1e-5)  # float32 vs float64


def test_average_pool_leaves_padding_out():
    x = np.random.default_rng(2).normal(size=(1, 5, 6, 2))
    got = np.asarray(inception.avg_pool_3x3_exclude_pad(jnp.asarray(x)))
    for i in range(5):
        for j in range(6):
            window = x[0, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
            np.testing.assert_allclose(got[0, i, j], window.mean(axis=(0, 1)), rtol=1e-5)


def test_converter_reads_pytorch_fid_pth_files(tmp_path):
    """The .pth path, through torch.load(weights_only=True), when torch is installed."""
    torch = pytest.importorskip("torch")
    state = random_state_dict(seed=3)
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, tmp_path / "pt_inception.pth")
    from_pth = convert_inception.convert(
        convert_inception.read_state_dict(str(tmp_path / "pt_inception.pth"))
    )
    from_npz = convert_inception.convert(state)
    assert from_pth.keys() == from_npz.keys()
    for key in from_npz:
        np.testing.assert_array_equal(from_pth[key], from_npz[key])
