"""`load_generator` on files a user may hand it: every damaged or tampered part is one
`ConfigError` line naming the file, before anything runs (docs/reliability.md)."""

import json
import logging
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy

from conftest import load_config
from gan_jax.errors import ConfigError
from gan_jax.models import build_models
from gan_jax.run import exported


@pytest.fixture(scope="module")
def good():
    """(config, variables) of an untrained tiny DCGAN generator, as an export holds them."""
    config = load_config("tiny")
    g_model, _ = build_models(config)
    z, labels = jnp.zeros((2, config.model.z_dim)), jnp.zeros((2,), jnp.int32)
    variables = jax.device_get(g_model.init(jax.random.key(0), z, labels, train=False))
    return config, variables


def write(path, run_config, variables, **changes) -> str:
    """An export of ``variables``; ``changes`` replace metadata fields (None removes one)."""
    data = exported.encode(run_config, 7, variables)
    flat = exported.flatten_variables(variables)
    with _Meta(data) as meta:
        metadata = dict(meta)
    metadata.update(changes)
    metadata = {k: v for k, v in metadata.items() if v is not None}
    path.write_bytes(safetensors.numpy.save(flat, metadata=metadata))
    return str(path)


class _Meta:
    """The metadata of safetensors bytes (the header's __metadata__)."""

    def __init__(self, data: bytes):
        size = struct.unpack("<Q", data[:8])[0]
        self.metadata = json.loads(data[8 : 8 + size])["__metadata__"]

    def __enter__(self):
        return self.metadata

    def __exit__(self, *exc):
        return False


def test_a_good_file_loads(good, tmp_path):
    config, variables = good
    g = exported.load_generator(write(tmp_path / "g.safetensors", config, variables))
    assert g(seeds=[0]).shape == (1, 28, 28, 1)


def _tensor_offset(data: bytes, name: str) -> int:
    size = struct.unpack("<Q", data[:8])[0]
    return 8 + size + json.loads(data[8 : 8 + size])[name]["data_offsets"][0]


def test_a_flipped_exponent_byte_is_damage(good, tmp_path):
    config, variables = good
    path = tmp_path / "g.safetensors"
    path.write_bytes(exported.encode(config, 7, variables))
    data = bytearray(path.read_bytes())
    data[_tensor_offset(bytes(data), "params/project/kernel") + 3] ^= 0x40  # the top byte of a float32
    path.write_bytes(bytes(data))
    with pytest.raises(
        ConfigError, match=r"g.safetensors is damaged: its tensors do not match the tensors_sha256"
    ):
        exported.load_generator(str(path))


def test_a_float32_tensor_stored_as_int32_is_refused(good, tmp_path):
    config, variables = good
    path = tmp_path / "g.safetensors"
    path.write_bytes(exported.encode(config, 7, variables))
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    header["params/project/kernel"]["dtype"] = "I32"
    text = json.dumps(header, separators=(",", ":")).encode().ljust(size)
    path.write_bytes(data[:8] + text + data[8 + size :])
    with pytest.raises(ConfigError, match="is damaged"):
        exported.load_generator(str(path))
    # The same with a checksum that agrees: the tensor's dtype is not the generator's.
    flat = {
        name: (value.view(np.int32) if name == "params/project/kernel" else value)
        for name, value in exported.flatten_variables(variables).items()
    }
    tampered = exported.unflatten_variables(flat)
    with pytest.raises(
        ConfigError,
        match=r"has params/project/kernel as int32\[16, 784\]; its config's dcgan generator has float32",
    ):
        exported.load_generator(write(tmp_path / "i.safetensors", config, tampered))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"config": "{not json"}, "the config in its metadata is not JSON"),
        ({"config": "[1, 2]"}, "is not a gan_jax config"),
        ({"config": json.dumps({"model": {}})}, "is not a gan_jax config"),
        ({"config": None}, "its metadata holds no config"),
        ({"step": "seven"}, "its metadata's step 'seven' is not a number"),
        ({"format": None}, "is not a gan_jax generator export"),
        ({"format_version": "9"}, "has format_version '9'"),
    ],
)
def test_tampered_metadata_is_one_line(good, tmp_path, changes, message):
    config, variables = good
    path = write(tmp_path / "g.safetensors", config, variables, **changes)
    with pytest.raises(ConfigError, match=message) as e:
        exported.load_generator(path)
    assert str(tmp_path / "g.safetensors") in str(e.value) and "\n" not in str(e.value)


def test_a_config_of_another_architecture_or_size_is_refused(good, tmp_path):
    config, variables = good
    other = load_config("tiny")
    other.model.dcgan.g_width = 16
    flat_config = exported.config_lib.to_json(other)
    with pytest.raises(
        ConfigError, match=r"does not match the config in its metadata: it has .* as float32\["
    ):
        exported.load_generator(write(tmp_path / "w.safetensors", config, variables, config=flat_config))
    other = load_config("tiny")
    other.model.architecture = "sngan"
    path = write(tmp_path / "a.safetensors", config, variables, config=exported.config_lib.to_json(other))
    with pytest.raises(ConfigError, match="does not match the config in its metadata: it has "):
        exported.load_generator(path)


def test_a_file_without_a_checksum_loads_with_a_warning(good, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    config, variables = good
    exported.load_generator(write(tmp_path / "old.safetensors", config, variables, tensors_sha256=None))
    assert any("has no tensors_sha256" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, b"PK\x03\x04 a zip", struct.pack("<Q", 2**40) + b"{}"])
def test_files_that_are_not_safetensors_are_one_line(tmp_path, content):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="cannot read .*x.safetensors as safetensors"):
        exported.load_generator(str(path))
    with pytest.raises(ConfigError, match="no such file"):
        exported.load_generator(str(tmp_path / "missing.safetensors"))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -1.0])
def test_the_library_refuses_a_z_truncation_that_is_not_finite_and_positive(good, tmp_path, value):
    config, variables = good
    g = exported.load_generator(write(tmp_path / "g.safetensors", config, variables))
    with pytest.raises(ConfigError, match="must be a finite positive number"):
        g(seeds=[0], z_truncation=value)
