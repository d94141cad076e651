"""Mesh construction, batch divisibility and the distributed start-up decision."""

import jax
import ml_collections
import numpy as np
import pytest

from gan_jax import parallel
from gan_jax.errors import ConfigError


def test_mesh_spans_all_devices_on_one_axis():
    mesh = parallel.create_mesh()
    assert mesh.axis_names == ("data",) and mesh.devices.size == jax.device_count() == 8


def test_batch_must_divide_over_devices():
    mesh = parallel.create_mesh()
    parallel.check_batch_size(16, mesh)
    with pytest.raises(
        ConfigError, match="batch_size=12 must be a positive multiple of the 8 devices.*try batch_size=8"
    ):
        parallel.check_batch_size(12, mesh)
    parallel.check_batch_size(12, parallel.create_mesh(jax.devices()[:4]))


def test_distributed_is_not_started_without_a_cluster(monkeypatch):
    for var in parallel._CLUSTER_ENV:
        monkeypatch.delenv(var, raising=False)
    called = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: called.append(kw))
    config = ml_collections.ConfigDict({"distributed": {"enabled": None}})
    parallel.maybe_initialize_distributed(config)
    assert called == []
    monkeypatch.setenv("SLURM_JOB_ID", "1")  # a one-task Slurm job is not a cluster
    parallel.maybe_initialize_distributed(config)
    assert called == []
    monkeypatch.setenv("SLURM_NTASKS", "4")
    parallel.maybe_initialize_distributed(config)
    assert called == [{}]


def test_distributed_forced_passes_the_given_coordinates(monkeypatch):
    called = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: called.append(kw))
    config = ml_collections.ConfigDict(
        {
            "distributed": {
                "enabled": True,
                "coordinator_address": "127.0.0.1:1234",
                "num_processes": 2,
                "process_id": 1,
            }
        }
    )
    parallel.maybe_initialize_distributed(config)
    assert called == [{"coordinator_address": "127.0.0.1:1234", "num_processes": 2, "process_id": 1}]


def test_from_every_process_places_the_whole_value_with_the_sharding():
    mesh = parallel.create_mesh()
    x = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
    y = parallel.from_every_process(x, parallel.data_sharded(mesh))
    assert y.sharding == parallel.data_sharded(mesh) and len(y.addressable_shards) == 8
    np.testing.assert_array_equal(np.asarray(y), x)
    np.testing.assert_array_equal(np.asarray(y.addressable_shards[1].data), x[2:4])
