"""python -m gan_jax.tools.dataset_tool and gan_jax.data.packed: every source packed and read back."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, write_idx
from gan_jax.data import pack_writer
from gan_jax.data import packed
from gan_jax.errors import DataError
from gan_jax.data.files import decode_image, fit_resolution
from gan_jax.data.pack_writer import Request, pack


def quiet(_message: str) -> None:
    pass


def image_folder(root, per_class: int = 4, classes=("cats", "dogs", "owls"), seed: int = 0) -> list[str]:
    """RGB and grey PNGs of assorted sizes in one sub-folder per class; their paths, sorted."""
    rng = np.random.default_rng(seed)
    paths = []
    for c in classes:
        os.makedirs(os.path.join(root, c), exist_ok=True)
        for i in range(per_class):
            shape = (18 + i % 8, 22 - i % 8) + (() if i % 3 == 2 else (3,))
            path = os.path.join(root, c, f"{i:02d}.png")
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
            paths.append(path)
    return sorted(paths)


def fitted(paths, resolution: int, channels: int, fit: str) -> np.ndarray:
    return np.stack(
        [fit_resolution(decode_image(p, channels, True)[None], resolution, fit)[0] for p in paths]
    )


def files(dest) -> dict:
    """Every file of a pack, by name, as bytes."""
    return {n: open(os.path.join(dest, n), "rb").read() for n in sorted(os.listdir(dest))}


def test_folder_with_classes_round_trips(tmp_path):
    paths = image_folder(tmp_path / "src")
    info = pack(
        Request(str(tmp_path / "src"), resolution=16, channels=3, shards=3), str(tmp_path / "out"), log=quiet
    )
    ds = packed.open_packed(str(tmp_path / "out"))
    assert (len(ds), ds.resolution, ds.channels, ds.num_classes) == (12, 16, 3, 3)
    assert ds.class_names == ["cats", "dogs", "owls"] == info["class_names"]
    assert [s["count"] for s in info["shards"]] == [4, 4, 4]
    assert sorted(os.listdir(tmp_path / "out")) == ["dataset.json", "labels.npy"] + [
        packed.shard_name(k, 3) for k in range(3)
    ]
    np.testing.assert_array_equal(ds.labels, np.repeat([0, 1, 2], 4))
    expected = fitted(paths, 16, 3, "resize")
    np.testing.assert_array_equal(ds.read(np.arange(12)), expected)
    order = [11, 0, 5, 5, 7]
    np.testing.assert_array_equal(ds.read(order), expected[order])
    packed.verify(ds)
    assert info["sha256"] == packed.pack_digest([s["sha256"] for s in info["shards"]])


@pytest.mark.parametrize("fmt,fit,channels", [("raw", "pad", 1), ("jpeg", "crop", 3), ("png", "crop", 1)])
def test_formats_and_fits(tmp_path, fmt, fit, channels):
    paths = image_folder(tmp_path / "src", per_class=3, classes=("a", "b"))
    resolution = 24 if fit == "pad" else 12
    pack(
        Request(
            str(tmp_path / "src"), resolution=resolution, channels=channels, fit=fit, format=fmt, shards=2
        ),
        str(tmp_path / "out"),
        log=quiet,
    )
    ds = packed.open_packed(str(tmp_path / "out"))
    images, expected = ds.read(range(len(ds))), fitted(paths, resolution, channels, fit)
    assert images.shape == (6, resolution, resolution, channels)
    if fmt == "jpeg":
        assert np.abs(images.astype(int) - expected).mean() < 8
    else:
        np.testing.assert_array_equal(images, expected)
    if fit == "crop":  # a centre cut, no resampling
        source = decode_image(paths[0], channels, True)
        top, left = (source.shape[0] - resolution) // 2, (source.shape[1] - resolution) // 2
        np.testing.assert_array_equal(expected[0], source[top : top + resolution, left : left + resolution])


def test_zip_packs_like_its_folder(tmp_path):
    image_folder(tmp_path / "top")
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        for root, _, names in os.walk(tmp_path / "top"):
            for n in names:
                path = os.path.join(root, n)
                archive.write(path, os.path.relpath(path, tmp_path))  # top/cats/00.png, ...
    from_folder = pack(
        Request(str(tmp_path / "top"), resolution=16, shards=2), str(tmp_path / "a"), log=quiet
    )
    from_zip = pack(
        Request(str(tmp_path / "data.zip"), resolution=16, shards=2), str(tmp_path / "b"), log=quiet
    )
    assert from_zip["class_names"] == ["cats", "dogs", "owls"]
    assert from_zip["sha256"] == from_folder["sha256"]
    np.testing.assert_array_equal(packed.open_packed(str(tmp_path / "b")).labels, np.repeat([0, 1, 2], 4))


def test_tfds_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=9):
        info = pack(
            Request("tfds:mnist", resolution=32, fit="pad", shards=2), str(tmp_path / "out"), log=quiet
        )
        source = tfds.data_source("mnist", split="train")
        examples = [source[i] for i in range(9)]
    ds = packed.open_packed(str(tmp_path / "out"))
    assert (len(ds), ds.channels, ds.num_classes, len(ds.class_names)) == (9, 1, 10, 10)
    assert info["source"] == "tfds mnist:train"
    expected = fit_resolution(np.stack([e["image"] for e in examples]), 32, "pad")
    np.testing.assert_array_equal(ds.read(range(9)), expected)
    np.testing.assert_array_equal(ds.labels, [e["label"] for e in examples])


def test_idx_directory_and_split(tmp_path):
    rng = np.random.default_rng(1)
    train, test = (
        rng.integers(0, 256, (7, 10, 10), dtype=np.uint8),
        rng.integers(0, 256, (3, 10, 10), dtype=np.uint8),
    )
    write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), train)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), np.arange(7, dtype=np.uint8))
    write_idx(str(tmp_path / "t10k-images-idx3-ubyte.gz"), test)
    pack(Request(str(tmp_path), resolution=12, fit="pad", shards=2), str(tmp_path / "out"), log=quiet)
    ds = packed.open_packed(str(tmp_path / "out"))
    np.testing.assert_array_equal(ds.read(range(7)), fit_resolution(train[..., None], 12, "pad"))
    assert ds.num_classes == 7 and ds.labels.tolist() == list(range(7))
    pack(Request(str(tmp_path), resolution=10, split="test"), str(tmp_path / "test"), log=quiet)
    np.testing.assert_array_equal(packed.open_packed(str(tmp_path / "test")).read(range(3)), test[..., None])


def test_npz_with_max_examples_and_more_shards_than_examples(tmp_path):
    rng = np.random.default_rng(2)
    images, labels = (
        rng.integers(0, 256, (9, 12, 12, 3), dtype=np.uint8),
        rng.integers(0, 4, 9).astype(np.int32),
    )
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    info = pack(
        Request(str(tmp_path / "d.npz"), resolution=8, format="raw", shards=6, max_examples=4),
        str(tmp_path / "out"),
        log=quiet,
    )
    assert [s["count"] for s in info["shards"]] == [0, 1, 1, 0, 1, 1]  # runs [k·4 // 6, (k+1)·4 // 6)
    ds = packed.open_packed(str(tmp_path / "out"))
    np.testing.assert_array_equal(ds.read([3, 0, 1, 2]), fit_resolution(images[[3, 0, 1, 2]], 8, "resize"))
    np.testing.assert_array_equal(ds.labels, labels[:4])
    assert ds.num_classes == labels.max() + 1
    packed.verify(ds)


def test_synthetic_source_makes_each_example_from_its_index(tmp_path):
    from gan_jax.data.pack_sources import synthetic_image

    info = pack(
        Request("synthetic:25:16", resolution=16, shards=3), str(tmp_path / "s"), workers=2, log=quiet
    )
    assert info["count"] == 25 and info["num_classes"] == 10
    ds = packed.open_packed(str(tmp_path / "s"))
    np.testing.assert_array_equal(ds.labels, np.arange(25) % 10)
    assert ds.channels == 3
    np.testing.assert_array_equal(
        ds.read([24, 3]), np.stack([synthetic_image(24, 16, 3), synthetic_image(3, 16, 3)])
    )
    # The blob of class k peaks at its place c_k = 1/2 + 1/4 (cos 2πk/10, sin 2πk/10), to a pixel and a half.
    image = synthetic_image(12, 32, 1)[..., 0].astype(float)
    row, col = np.unravel_index(np.argmax(image), image.shape)
    want = 32 * (0.5 + 0.25 * np.array([np.sin(2 * np.pi * 2 / 10), np.cos(2 * np.pi * 2 / 10)])) - 0.5
    assert np.abs(np.array([row, col]) - want).max() <= 1.5
    with pytest.raises(DataError, match="expected synthetic:COUNT:RESOLUTION"):
        pack(Request("synthetic:ten:16", resolution=16), str(tmp_path / "bad"), log=quiet)


def _with_bad_image(root) -> list[str]:
    paths = image_folder(root, per_class=3, classes=("a", "b"))
    (root / "a" / "01.png").write_bytes(b"not a png")
    return paths


def test_bad_images_fail_or_are_skipped(tmp_path):
    paths = _with_bad_image(tmp_path / "src")
    with pytest.raises(DataError, match=r"a/01\.png.*--bad_images=skip"):
        pack(Request(str(tmp_path / "src"), resolution=8), str(tmp_path / "fail"), log=quiet)
    with pytest.raises(DataError, match="unfinished"):
        packed.open_packed(str(tmp_path / "fail"))
    info = pack(
        Request(str(tmp_path / "src"), resolution=8, bad_images="skip", shards=2),
        str(tmp_path / "skip"),
        log=quiet,
    )
    assert info["count"] == 5 and [s["name"] for s in info["skipped"]] == [paths[1]]
    ds = packed.open_packed(str(tmp_path / "skip"))
    assert ds.labels.tolist() == [0, 0, 1, 1, 1] and ds.num_classes == 2
    kept = [p for p in paths if p != paths[1]]
    np.testing.assert_array_equal(ds.read(range(5)), fitted(kept, 8, 3, "resize"))


def test_an_interrupted_pack_is_unfinished_and_resumes_identically(tmp_path, monkeypatch):
    image_folder(tmp_path / "src")
    request = Request(str(tmp_path / "src"), resolution=16, shards=3)
    pack(request, str(tmp_path / "clean"), log=quiet)

    real_prepare = pack_writer.prepare

    def interrupted(task, settings):
        if task.index == 6:  # in the second shard, after the first is written
            raise KeyboardInterrupt
        return real_prepare(task, settings)

    monkeypatch.setattr(pack_writer, "prepare", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pack(request, str(tmp_path / "out"), log=quiet)
    monkeypatch.setattr(pack_writer, "prepare", real_prepare)
    with pytest.raises(DataError, match="unfinished"):
        packed.open_packed(str(tmp_path / "out"))
    first = os.stat(tmp_path / "out" / packed.shard_name(0, 3)).st_mtime_ns
    log = []
    pack(request, str(tmp_path / "out"), log=log.append)
    assert log[0] == "resuming: 1 of 3 shards were already written"
    assert os.stat(tmp_path / "out" / packed.shard_name(0, 3)).st_mtime_ns == first
    assert files(tmp_path / "out") == files(tmp_path / "clean")


def test_workers_do_not_change_the_pack(tmp_path):
    image_folder(tmp_path / "src", per_class=14)
    for workers in (1, 2):
        pack(
            Request(str(tmp_path / "src"), resolution=16, shards=3),
            str(tmp_path / f"w{workers}"),
            workers=workers,
            log=quiet,
        )
    pack(Request(str(tmp_path / "src"), resolution=16, shards=3), str(tmp_path / "w0"), log=quiet)
    assert files(tmp_path / "w1") == files(tmp_path / "w2") == files(tmp_path / "w0")


def test_what_dest_may_hold(tmp_path):
    image_folder(tmp_path / "src", per_class=2)
    dest = str(tmp_path / "out")
    pack(Request(str(tmp_path / "src"), resolution=8), dest, log=quiet)
    before, log = files(dest), []
    pack(Request(str(tmp_path / "src"), resolution=8), dest, log=log.append)
    assert log == [f"{dest} already holds this pack; nothing to do"] and files(dest) == before
    with pytest.raises(DataError, match="another request .*resolution.*--overwrite"):
        pack(Request(str(tmp_path / "src"), resolution=4), dest, log=quiet)
    assert files(dest) == before
    info = pack(Request(str(tmp_path / "src"), resolution=4), dest, overwrite=True, log=quiet)
    assert info["resolution"] == packed.open_packed(dest).resolution == 4
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="notes.txt"):
        pack(Request(str(tmp_path / "src"), resolution=4), str(tmp_path / "mine"), overwrite=True, log=quiet)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_damaged_packs_are_refused(tmp_path):
    image_folder(tmp_path / "src", per_class=2)
    dest = tmp_path / "out"
    pack(Request(str(tmp_path / "src"), resolution=8, shards=2), str(dest), log=quiet)
    shard = dest / packed.shard_name(1, 2)
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DataError, match="shard-00001-of-00002.array_record is .* bytes"):
        packed.open_packed(str(dest))
    (dest / "labels.npy").unlink()
    (dest / "dataset.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(DataError, match="not a version-1"):
        packed.open_packed(str(dest))
    pack(Request(str(tmp_path / "src"), resolution=8), str(tmp_path / "ok"), log=quiet)
    with pytest.raises(IndexError):
        packed.open_packed(str(tmp_path / "ok")).read([6])


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gan_jax.tools.dataset_tool", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_line_packs_and_reports_errors_in_one_line(tmp_path):
    _with_bad_image(tmp_path / "src")
    out = run_tool(
        "--source",
        str(tmp_path / "src"),
        "--dest",
        str(tmp_path / "out"),
        "--resolution",
        "8",
        "--workers",
        "2",
        "--bad_images",
        "skip",
    )
    assert out.returncode == 0, out.stderr
    assert "5 examples of 8x8x3 (2 classes) in 1 shards, 1 skipped" in out.stdout
    assert len(packed.open_packed(str(tmp_path / "out"))) == 5
    for args, message in [
        (
            ["--source", str(tmp_path / "nowhere"), "--dest", str(tmp_path / "x"), "--resolution", "8"],
            "does not exist",
        ),
        (
            [
                "--source",
                str(tmp_path / "src"),
                "--dest",
                str(tmp_path / "y"),
                "--resolution",
                "8",
                "--workers",
                "0",
            ],
            "01.png",
        ),
        (["--source", str(tmp_path / "src"), "--dest", str(tmp_path / "z")], "--resolution is required"),
    ]:
        result = run_tool(*args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_a_killed_pack_resumes_identically(tmp_path):
    image_folder(tmp_path / "src", per_class=100)
    args = ["--source", str(tmp_path / "src"), "--resolution", "32", "--shards", "30", "--workers", "1"]
    assert run_tool(*args, "--dest", str(tmp_path / "clean")).returncode == 0
    dest = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "gan_jax.tools.dataset_tool", *args, "--dest", str(dest)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not (dest / ".partial" / "shard-00000.json").exists():
        assert process.poll() is None, "the pack ended before it could be killed"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with pytest.raises(DataError, match="unfinished"):
        packed.open_packed(str(dest))
    resumed = run_tool(*args, "--dest", str(dest))
    assert resumed.returncode == 0 and "resuming:" in resumed.stdout
    assert files(dest) == files(tmp_path / "clean")
