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


def _compiled_step(config, mesh):
    from gan_jax.training import build

    run = build.build(config, mesh)
    state = run.init_state()
    k, b, r, c = config.n_critic, config.batch_size, config.dataset.resolution, config.dataset.channels
    rng = np.random.default_rng(0)
    sharding = parallel.data_sharded(mesh, leading_unsharded=1)
    batch = {
        "image": jax.device_put(rng.integers(0, 256, (k, b, r, r, c), dtype=np.uint8), sharding),
        "label": jax.device_put(rng.integers(0, 4, (k, b)).astype(np.int32), sharding),
    }
    step = run.train_step(None)
    compiled = step.lower(state, batch, run.keys["train"]).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis["flops"]), compiled(state, batch, run.keys["train"])


@pytest.mark.parametrize("architecture", ["dcgan", pytest.param("stylegan2", marks=pytest.mark.slow)])
def test_every_device_computes_only_its_share_of_the_batch(tiny_config, architecture):
    """On 8 devices each device's program does 1/8 of the one-device step's work (G and D
    on its own rows of z as well as of the real batch), and the step's result is the same."""
    config = tiny_config
    config.dataset.update(resolution=32, channels=1)
    config.model.update(architecture=architecture, num_classes=0)
    if architecture == "stylegan2":
        config.model.stylegan2.update(w_dim=8, mapping_layers=1, channel_base=64, channel_max=8)
    one_flops, (one_state, one_metrics) = _compiled_step(config, parallel.create_mesh(jax.devices()[:1]))
    all_flops, (all_state, all_metrics) = _compiled_step(config, parallel.create_mesh())
    assert all_flops < 1.3 * one_flops / 8, (all_flops, one_flops)
    for name in one_metrics:
        np.testing.assert_allclose(all_metrics[name], one_metrics[name], rtol=1e-4, atol=1e-5, err_msg=name)
    for a, b in zip(jax.tree.leaves(one_state.g_params), jax.tree.leaves(all_state.g_params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
