"""Training on a pack (python -m gan_jax.tools.dataset_tool): the batches stream from disk, a pure
function of (seed, step) like the in-memory sources', pixel for pixel the same as the npz
the pack was made from; x-flips, processes' columns, worker processes and a resume."""

import multiprocessing
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, load_config, synthetic_images
from gan_jax import parallel
from gan_jax.data import pipeline as data
from gan_jax.data import order as data_order
from gan_jax.data import sources as datasets
from gan_jax.errors import DataError
from gan_jax.data.pack_writer import Request, pack
from gan_jax.run.trainer import train_and_evaluate

N = 256  # conftest's synthetic squares: 28x28x1, 4 classes
WORKER = os.path.join(REPO, "tests", "data_multihost_worker.py")


@pytest.fixture(scope="module")
def packs(synthetic_npz, tmp_path_factory) -> dict[str, str]:
    """conftest's synthetic npz packed losslessly into 3 shards, as png and as raw: format → folder."""
    out = {}
    for fmt in ("png", "raw"):
        out[fmt] = str(tmp_path_factory.mktemp(f"pack_{fmt}"))
        pack(Request(synthetic_npz, resolution=28, format=fmt, shards=3), out[fmt], log=lambda _: None)
    return out


@pytest.fixture
def pack_dir(packs) -> str:
    return packs["png"]


def config_on(path: str, **dataset):
    """configs/tiny.py reading ``path`` (source auto unless ``dataset`` says), fields of
    ``dataset`` set."""
    config = load_config("tiny")
    config.dataset.update({"source": "auto", "path": path, **dataset})
    return config


def host_arrays(stream) -> list[dict]:
    return [{k: np.asarray(v) for k, v in batch.items()} for batch in stream]


def same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x[k], y[k]) and x[k].dtype == y[k].dtype for x, y in zip(a, b) for k in x
    )


@pytest.mark.parametrize("fmt", ["png", "raw"])
def test_a_pack_is_found_by_auto_and_streams_the_npz_batches(packs, fmt, synthetic_npz):
    pack_dir = packs[fmt]
    config = config_on(pack_dir)
    assert datasets.resolve_source(config.dataset) == ("packed", pack_dir)
    dataset = datasets.load_dataset(config.dataset)
    images, labels = synthetic_images()
    assert not dataset.in_memory and not hasattr(dataset, "images")
    assert (len(dataset), dataset.num_classes) == (N, 4) and f"packed {pack_dir}" == dataset.description
    np.testing.assert_array_equal(dataset.labels, labels)
    np.testing.assert_array_equal(dataset.read([7, 3, 7, 255]), images[[7, 3, 7, 255]])

    mesh = parallel.create_mesh()
    npz = datasets.load_dataset(config_on(synthetic_npz).dataset)
    want = host_arrays(data.batches(npz, config, mesh, 0, 20))  # 20 steps of 16: over an epoch
    assert same(host_arrays(data.batches(dataset, config, mesh, 0, 20)), want)
    assert same(host_arrays(data.batches(dataset, config, mesh, 0, 20)), want)  # again
    assert same(host_arrays(data.batches(dataset, config, mesh, 13, 20)), want[13:])  # a restart


def test_a_pack_of_another_shape_an_unfinished_one_and_subsets(pack_dir, synthetic_npz, tmp_path):
    with pytest.raises(DataError) as e:
        datasets.load_dataset(config_on(pack_dir, resolution=32).dataset)
    assert str(e.value) == (
        f"{pack_dir} is packed at 28x28x1 but the config asks for 32x32x1: set "
        f"--config.dataset.resolution=28 --config.dataset.channels=1, or repack it with "
        f"--resolution 32 --channels 1"
    )
    (tmp_path / ".partial").mkdir()
    with pytest.raises(DataError, match="unfinished: re-run the dataset tool"):
        datasets.load_dataset(config_on(str(tmp_path)).dataset)
    with pytest.raises(DataError, match="needs dataset.path"):
        datasets.load_dataset(config_on("", source="packed").dataset)
    with pytest.raises(DataError, match="is a packed dataset: set --config.dataset.source=packed"):
        datasets.load_dataset(config_on(pack_dir, source="folder").dataset)

    subset = datasets.load_dataset(config_on(pack_dir, classes=(3, 1), max_examples=50).dataset)
    want = datasets.load_dataset(config_on(synthetic_npz, classes=(3, 1), max_examples=50).dataset)
    assert len(subset) == 50 and subset.description.endswith("classes 3,1")
    np.testing.assert_array_equal(subset.labels, want.labels)
    np.testing.assert_array_equal(subset.read(np.arange(50)[::-1]), want.images[::-1])


def test_mirror_doubles_the_epoch_with_flipped_copies(pack_dir, synthetic_npz):
    config = config_on(pack_dir, mirror=True)
    dataset = datasets.load_dataset(config.dataset)
    images, labels = synthetic_images()
    assert data_order.epoch_length(dataset, True) == 2 * N
    # by hand: example N + i is image i with its columns reversed, and its label
    got, got_labels = data_order.read_examples(dataset, [N + 5, 5, 2 * N - 1], True)
    np.testing.assert_array_equal(got[0], images[5][:, ::-1])
    np.testing.assert_array_equal(got[1], images[5])
    np.testing.assert_array_equal(got[2], images[N - 1][:, ::-1])
    np.testing.assert_array_equal(got_labels, labels[[5, 5, N - 1]])
    assert not np.array_equal(images[5], images[5][:, ::-1])

    # one epoch of 2N examples (32 steps of 16) holds every image once and its flip once
    steps = [data.host_batch(dataset, config, s) for s in range(2 * N // 16)]
    idx = np.concatenate([data_order.step_indices(config.seed, s, 1, 16, 2 * N).ravel() for s in range(32)])
    assert sorted(idx) == list(range(2 * N))
    seen = np.concatenate([b["image"][0] for b in steps])
    expected = np.where((idx >= N)[:, None, None, None], images[idx % N][:, :, ::-1], images[idx % N])
    np.testing.assert_array_equal(seen, expected)
    assert all(
        np.array_equal(a["image"], data.host_batch(dataset, config, s)["image"]) for s, a in enumerate(steps)
    )
    # the same on an in-memory source: the flip is in the index, not the reader
    npz = datasets.load_dataset(config_on(synthetic_npz).dataset)
    np.testing.assert_array_equal(data.host_batch(npz, config, 3)["image"], steps[3]["image"])


def test_two_processes_read_disjoint_halves_of_the_global_batch(pack_dir, monkeypatch):
    """2 processes of 2 devices each: processes own the columns [8p, 8p + 8) of the batch
    of 16 (process_index and process_count monkeypatched; each part read from the pack)."""
    config = config_on(pack_dir, mirror=True)
    config.n_critic = 2
    dataset = datasets.load_dataset(config.dataset)
    whole = data.host_batch(dataset, config, 7)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    parts, read = [], []
    for p in range(2):
        monkeypatch.setattr(jax, "process_index", lambda p=p: p)
        assert data.local_columns(16) == slice(8 * p, 8 * p + 8)
        parts.append(data.host_batch(dataset, config, 7))
        read.append(set(data_order.step_indices(config.seed, 7, 2, 16, 2 * N)[:, 8 * p : 8 * p + 8].ravel()))
    assert not read[0] & read[1] and len(read[0] | read[1]) == 32
    for key in ("image", "label"):
        assert parts[0][key].shape[:2] == (2, 8)
        np.testing.assert_array_equal(np.concatenate([q[key] for q in parts], axis=1), whole[key])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_real_processes_of_two_devices_read_only_their_own_examples(pack_dir, tmp_path):
    """Two `jax.distributed` processes (tests/data_multihost_worker.py): each asks the pack
    for exactly its 8 columns of every batch of 16, and its devices hold those columns
    of the global batch, read in the process or by a worker process; the two halves are
    disjoint and make the whole."""
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "PYTHONPATH": REPO,
    }
    port, logs = _free_port(), [tmp_path / f"process{i}.log" for i in range(2)]
    procs = []
    for i in range(2):
        with open(logs[i], "w") as log:
            cmd = [
                sys.executable,
                WORKER,
                str(tmp_path / f"p{i}.npz"),
                f"127.0.0.1:{port}",
                str(i),
                pack_dir,
                "1",
            ]
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0, 0], "\n".join(log.read_text()[-3000:] for log in logs)

    config = config_on(pack_dir, mirror=True)
    dataset = datasets.load_dataset(config.dataset)
    whole = [data.host_batch(dataset, config, s) for s in range(3)]
    stream = np.stack([data_order.step_indices(config.seed, s, 1, 16, 2 * N) for s in range(3)])  # (3, 1, 16)
    halves = []
    for p in range(2):
        got = np.load(tmp_path / f"p{p}.npz")
        mine = slice(8 * p, 8 * p + 8)
        np.testing.assert_array_equal(got["columns"], np.tile(np.arange(8 * p, 8 * p + 8), (3, 1)))
        np.testing.assert_array_equal(got["read"], stream[:, :, mine].ravel() % N)
        for s in range(3):
            np.testing.assert_array_equal(got["image"][s], whole[s]["image"][:, mine])
            np.testing.assert_array_equal(got["label"][s], whole[s]["label"][:, mine])
        for key in ("image", "label", "columns"):  # the same through a worker process
            np.testing.assert_array_equal(got[f"workers_{key}"], got[key])
        halves.append(set(stream[:, :, mine].ravel()))
    assert not halves[0] & halves[1] and halves[0] | halves[1] == set(stream.ravel())


def test_worker_processes_give_the_same_batches(pack_dir):
    config = config_on(pack_dir, mirror=True)
    dataset = datasets.load_dataset(config.dataset)
    mesh = parallel.create_mesh()
    want = host_arrays(data.batches(dataset, config, mesh, 3, 12))
    config.dataset.workers = 2
    assert same(host_arrays(data.batches(dataset, config, mesh, 3, 12)), want)
    early = data.batches(dataset, config, mesh, 3, 12)  # stopped early: the workers end
    assert same(host_arrays([next(early), next(early)]), want[:2])
    assert len(multiprocessing.active_children()) == 2
    early.close()
    assert not multiprocessing.active_children()


def _equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


@pytest.mark.slow
def test_training_on_a_pack_resumes_bit_exact(pack_dir, tmp_path):
    """4 steps straight (in-thread reads) against 2, then 2 more resumed (2 worker processes)."""
    config = config_on(pack_dir, mirror=True)
    config.update(num_steps=4, sample_every=0, checkpoint_every=2)
    straight = train_and_evaluate(config, str(tmp_path / "straight"))
    config.dataset.workers = 2
    config.num_steps = 2
    train_and_evaluate(config, str(tmp_path / "resumed"))
    config.num_steps = 4
    resumed = train_and_evaluate(config, str(tmp_path / "resumed"))
    assert int(resumed.step) == 4 and _equal(straight, resumed)


def test_a_non_square_pack(tmp_path):
    """--aspect 4:3 at 16 px packs 12 x 16 images and records their height and width; a run
    with the same dataset.aspect reads them, one without it is refused with the fix; a
    square pack's request and dataset.json gain no field."""
    import ml_collections

    from gan_jax.data import pack_writer
    from gan_jax.data import packed as packed_lib
    from gan_jax.errors import ConfigError

    images = np.random.default_rng(0).integers(1, 255, (6, 10, 14, 1), dtype=np.uint8)
    npz = str(tmp_path / "src.npz")
    np.savez(npz, images=images, labels=np.arange(6) % 2)
    quiet = dict(log=lambda _: None)
    info = pack_writer.pack(
        pack_writer.Request(npz, 16, aspect="4:3", fit="pad"), str(tmp_path / "p"), **quiet
    )
    assert (info["height"], info["width"], info["request"]["aspect"]) == (12, 16, "4:3")
    read = packed_lib.open_packed(str(tmp_path / "p")).read([0, 5])
    assert read.shape == (2, 12, 16, 1)
    np.testing.assert_array_equal(read[:, 1:11, 1:15], images[[0, 5]])
    square = pack_writer.pack(pack_writer.Request(npz, 16, fit="pad"), str(tmp_path / "q"), **quiet)
    assert "height" not in square and "aspect" not in square["request"]
    ds = ml_collections.ConfigDict(dict(resolution=16, aspect="4:3", channels=1, classes=(), max_examples=0))
    assert datasets.load_packed(ds, str(tmp_path / "p")).read([1]).shape == (1, 12, 16, 1)
    ds.aspect = "1:1"
    with pytest.raises(DataError, match=r"holds 12x16 images .* repack it with --aspect 1:1"):
        datasets.load_packed(ds, str(tmp_path / "p"))
    with pytest.raises(DataError, match="cannot make it 12x16"):
        pack_writer.pack(pack_writer.Request(npz, 16, aspect="4:3", fit="crop"), str(tmp_path / "r"), **quiet)
    with pytest.raises(ConfigError, match="--aspect='16:9'"):
        pack_writer.check_request(pack_writer.Request(npz, 16, aspect="16:9"))
