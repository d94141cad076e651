"""The batch stream: a pure function of (seed, step), sliced per process, sharded globally."""

import jax
import numpy as np

from gan_jax import parallel
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets


def test_each_epoch_is_a_permutation():
    idx = data.stream_indices(seed=3, start=0, count=3 * 10, num_examples=10).reshape(3, 10)
    for epoch in idx:
        assert sorted(epoch) == list(range(10))
    assert not np.array_equal(idx[0], idx[1])


def test_stream_is_position_addressable():
    whole = data.stream_indices(5, 0, 100, 17)
    np.testing.assert_array_equal(data.stream_indices(5, 37, 20, 17), whole[37:57])
    assert not np.array_equal(data.stream_indices(6, 0, 100, 17), whole)


def test_step_indices_tile_the_stream():
    steps = [data.step_indices(0, s, batches=2, batch_size=4, num_examples=30) for s in range(3)]
    assert steps[0].shape == (2, 4)
    np.testing.assert_array_equal(
        np.concatenate([s.ravel() for s in steps]), data.stream_indices(0, 0, 24, 30)
    )


def test_global_batches_are_sharded_and_match_host_data(tiny_config):
    dataset = datasets.load_dataset(tiny_config.dataset)
    mesh = parallel.create_mesh()
    batches = list(data.batches(dataset, tiny_config, mesh, 2, 4))
    assert len(batches) == 2
    b = batches[0]
    assert b["image"].shape == (1, 16, 28, 28, 1) and b["image"].dtype == np.uint8
    assert b["label"].shape == (1, 16)
    assert len(b["image"].sharding.device_set) == 8
    idx = data.step_indices(tiny_config.seed, 2, 1, 16, len(dataset))
    np.testing.assert_array_equal(np.asarray(b["image"]), dataset.images[idx])
    np.testing.assert_array_equal(np.asarray(b["label"]), dataset.labels[idx])


def test_prefetch_reraises_producer_errors():
    def produce(step):
        if step == 2:
            raise ValueError("boom")
        return step

    it = data._prefetch(produce, range(5), 2)
    assert [next(it), next(it)] == [0, 1]
    try:
        next(it)
    except ValueError as e:
        assert "boom" in str(e)
    else:
        raise AssertionError("error not propagated")


def test_local_columns_single_process():
    assert data.local_columns(64) == slice(0, 64)
    assert jax.process_count() == 1


def test_each_process_reads_only_its_own_columns(tiny_config, monkeypatch):
    dataset = datasets.load_dataset(tiny_config.dataset)
    tiny_config.n_critic = 2
    whole = data.host_batch(dataset, tiny_config, 5)
    monkeypatch.setattr(jax, "process_count", lambda: 4)
    parts = []
    for p in range(4):
        monkeypatch.setattr(jax, "process_index", lambda p=p: p)
        assert data.local_columns(16) == slice(4 * p, 4 * p + 4)
        parts.append(data.host_batch(dataset, tiny_config, 5))
    for key in ("image", "label"):
        assert parts[0][key].shape[:2] == (2, 4)
        np.testing.assert_array_equal(np.concatenate([q[key] for q in parts], axis=1), whole[key])
