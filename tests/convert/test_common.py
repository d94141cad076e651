"""`load_state_dict` on the files users hand the converters and the metrics: each fault is
one `ConfigError` line naming the file."""

import struct

import numpy as np
import pytest

from gan_jax.convert.common import load_state_dict
from gan_jax.errors import GanJaxError
from gan_jax.metrics import inception


def test_good_files_load(tmp_path):
    np.savez(tmp_path / "a.npz", w=np.ones(3, np.float32))
    assert load_state_dict(str(tmp_path / "a.npz"))["w"].tolist() == [1, 1, 1]
    from safetensors.numpy import save_file

    save_file({"w": np.ones(2, np.float32)}, str(tmp_path / "a.safetensors"))
    assert load_state_dict(str(tmp_path / "a.safetensors"))["w"].shape == (2,)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("text.npz", b"junk\n", "is not an .npz .*does not begin as a zip file"),
        ("cut.npz", b"PK\x03\x04 cut", "cannot read .*cut.npz as an .npz"),
        ("empty.safetensors", b"", "cannot read .*empty.safetensors as safetensors"),
        ("huge.safetensors", struct.pack("<Q", 2**40) + b"{}", "as safetensors: .*header too large"),
        ("net.pkl", b"\x80\x04", "expected an .npz or .safetensors state dict"),
    ],
)
def test_bad_files_are_one_line(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(GanJaxError, match=message) as e:
        load_state_dict(str(tmp_path / name))
    assert "\n" not in str(e.value)


def test_missing_files_folders_and_pickles(tmp_path):
    with pytest.raises(GanJaxError, match="missing.npz: no such file"):
        load_state_dict(str(tmp_path / "missing.npz"))
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(GanJaxError, match="dir.npz is not a file"):
        load_state_dict(str(tmp_path / "dir.npz"))
    np.savez(tmp_path / "obj.npz", w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(GanJaxError, match="holds Python objects, which gan_jax never unpickles"):
        load_state_dict(str(tmp_path / "obj.npz"))


def test_inception_weights_that_are_not_an_npz_are_one_line(tmp_path):
    (tmp_path / "w.npz").write_bytes(b"junk\n")
    with pytest.raises(GanJaxError, match="w.npz is not an .npz"):
        inception.load_params(str(tmp_path / "w.npz"))
