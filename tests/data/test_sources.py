"""Dataset sources against small files written here, and the Debian Fashion-MNIST copy."""

import os
import time

import ml_collections
import numpy as np
import pytest
from PIL import Image

from conftest import FASHION_MNIST_DIR, write_idx
from gan_jax.data import sources as datasets
from gan_jax.config import base_config
from gan_jax.errors import DataError


def dataset_config(**kw) -> ml_collections.ConfigDict:
    ds = base_config().dataset
    ds.update(kw)
    return ds


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(str(tmp_path / "x-idx3-ubyte.gz"), a)
    write_idx(str(tmp_path / "y-idx1-ubyte"), np.array([7, -1, 300], np.int32), gz=False)
    np.testing.assert_array_equal(datasets.read_idx(str(tmp_path / "x-idx3-ubyte.gz")), a)
    np.testing.assert_array_equal(datasets.read_idx(str(tmp_path / "y-idx1-ubyte")), [7, -1, 300])


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="not an IDX file"):
        datasets.read_idx(str(tmp_path / "bad"))
    a = np.zeros((2, 2, 2), np.uint8)
    write_idx(str(tmp_path / "short-idx3"), a, gz=False)
    raw = (tmp_path / "short-idx3").read_bytes()
    (tmp_path / "short-idx3").write_bytes(raw[:-1])
    with pytest.raises(DataError, match="header says"):
        datasets.read_idx(str(tmp_path / "short-idx3"))


def test_idx_directory_with_splits_and_padding(tmp_path):
    train = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), train)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), np.arange(5, dtype=np.uint8))
    write_idx(str(tmp_path / "t10k-images-idx3-ubyte.gz"), train[:2])
    ds = datasets.load_dataset(dataset_config(path=str(tmp_path), resolution=32))
    assert ds.images.shape == (5, 32, 32, 1)
    np.testing.assert_array_equal(ds.images[:, 2:30, 2:30, 0], train)
    assert ds.images[:, :2].max() == 0 and ds.images[:, 30:].max() == 0
    np.testing.assert_array_equal(ds.labels, np.arange(5))
    assert ds.num_classes == 5
    test = datasets.load_dataset(dataset_config(path=str(tmp_path), split="test"))
    assert test.images.shape == (2, 28, 28, 1) and not test.labels.any()


def test_image_folder_labels_from_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        os.makedirs(tmp_path / cls)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(
                tmp_path / cls / f"{i}.png"
            )
    ds = datasets.load_dataset(dataset_config(path=str(tmp_path), resolution=32, channels=3, resize="resize"))
    assert ds.images.shape == (6, 32, 32, 3) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.labels, [0, 0, 0, 1, 1, 1])
    assert ds.num_classes == 2


def test_image_folder_resize_matches_pil(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (40, 60), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    ds = datasets.load_dataset(dataset_config(path=str(tmp_path), resolution=32, resize="resize"))
    want = np.asarray(Image.fromarray(img[:, 10:50]).resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(ds.images[0, ..., 0], want)
    assert ds.num_classes == 1 and ds.labels.tolist() == [0]


def test_empty_and_missing_folders_fail_clearly(tmp_path):
    with pytest.raises(DataError, match="no images"):
        datasets.load_dataset(dataset_config(source="folder", path=str(tmp_path)))
    with pytest.raises(DataError, match="does not exist"):
        datasets.load_dataset(dataset_config(path=str(tmp_path / "nope")))


def _folder_with_bad_images(root):
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / f"good{i}.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG cut short
    Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(root / "colour.png")
    return root


def test_bad_images_fail_by_default_naming_the_file(tmp_path):
    root = _folder_with_bad_images(tmp_path)
    with pytest.raises(
        DataError, match=r"colour.png has 3 channels \(RGB\), dataset.channels=1.*bad_images=skip"
    ):
        datasets.load_dataset(dataset_config(path=str(root)))
    os.remove(root / "colour.png")
    with pytest.raises(DataError, match=r"cannot decode image .*corrupt.png"):
        datasets.load_dataset(dataset_config(path=str(root)))


def test_bad_images_skipped_or_converted_by_config(tmp_path, caplog):
    root = _folder_with_bad_images(tmp_path)
    ds = datasets.load_dataset(dataset_config(path=str(root), bad_images="skip"))
    assert ds.images.shape == (3, 28, 28, 1)
    assert any("left out 2 of 5 images" in r.getMessage() for r in caplog.records)
    ds = datasets.load_dataset(dataset_config(path=str(root), bad_images="skip", convert_channels=True))
    assert ds.images.shape == (4, 28, 28, 1)  # the RGB image converted to grey, the corrupt one left out
    with pytest.raises(DataError, match="none of the 1 images"):
        os.makedirs(tmp_path / "only_bad")
        (tmp_path / "only_bad" / "x.png").write_bytes(b"not an image")
        datasets.load_dataset(dataset_config(path=str(tmp_path / "only_bad"), bad_images="skip"))


def test_npz_and_channel_conversion(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (4, 28, 28, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=rgb, y=np.array([0, 1, 2, 1]))
    ds = datasets.load_dataset(dataset_config(path=str(tmp_path / "d.npz"), channels=1))
    luma = rgb.astype(np.float64) @ [0.299, 0.587, 0.114]
    np.testing.assert_allclose(ds.images[..., 0], np.rint(luma), atol=1)
    grey = datasets.fit_channels(ds.images, 3)
    assert grey.shape == (4, 28, 28, 3) and (grey[..., 0] == grey[..., 2]).all()
    assert ds.num_classes == 3


def test_cache_roundtrip(tmp_path, synthetic_npz):
    cfg = dataset_config(path=synthetic_npz, cache_dir=str(tmp_path / "cache"))
    first = datasets.load_dataset(cfg)
    second = datasets.load_dataset(cfg)
    assert "cached" in second.description and isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)


def test_unprepared_tfds_dataset_fails_fast_with_options(tmp_path):
    start = time.perf_counter()
    with pytest.raises(
        DataError, match="dataset.download=True.*dataset.source=idx.*dataset.source=synthetic"
    ):
        datasets.load_dataset(dataset_config(source="tfds", name="mnist", data_dir=str(tmp_path)))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        datasets.load_dataset(dataset_config(source="tfds", name="fashion_mnist", data_dir=str(tmp_path)))
    with pytest.raises(DataError, match="no dataset named"):
        datasets.load_dataset(dataset_config(source="tfds", name="no_such_dataset_xyz"))
    assert time.perf_counter() - start < 30


def test_tfds_download_without_network_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "can_reach", lambda host, **kw: False)
    start = time.perf_counter()
    with pytest.raises(DataError, match="cannot reach .* to download it.*dataset.source=idx"):
        datasets.load_dataset(
            dataset_config(source="tfds", name="mnist", data_dir=str(tmp_path), download=True)
        )
    assert time.perf_counter() - start < 30


def test_synthetic_source_is_deterministic_blobs_of_ten_classes():
    ds = datasets.load_dataset(
        dataset_config(source="synthetic", resolution=16, channels=3, max_examples=200)
    )
    again = datasets.load_dataset(
        dataset_config(source="synthetic", resolution=16, channels=3, max_examples=200)
    )
    assert ds.images.shape == (200, 16, 16, 3) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, again.images)
    np.testing.assert_array_equal(ds.labels, np.arange(200) % 10)
    assert ds.num_classes == 10
    # each class's blob sits at its own place: the brightest pixel of the class mean
    # image is at c_k = 1/2 + 1/4 (cos 2πk/10, sin 2πk/10), within a pixel and a half
    for k in range(10):
        mean = ds.images[ds.labels == k].astype(np.float64).mean(axis=(0, 3))
        row, col = np.unravel_index(np.argmax(mean), mean.shape)
        want = 16 * (0.5 + 0.25 * np.array([np.sin(2 * np.pi * k / 10), np.cos(2 * np.pi * k / 10)])) - 0.5
        assert np.abs(np.array([row, col]) - want).max() <= 1.5, (k, row, col, want)
    default = datasets.load_dataset(dataset_config(source="synthetic", resolution=8, channels=1))
    assert len(default.images) == datasets.SYNTHETIC_EXAMPLES


def test_classes_keep_a_subset_with_labels_and_class_count_unchanged(tmp_path):
    everything = datasets.load_dataset(
        dataset_config(source="synthetic", resolution=8, channels=1, max_examples=100)
    )
    cfg = dataset_config(
        source="synthetic", resolution=8, channels=1, max_examples=100, cache_dir=str(tmp_path)
    )
    cfg.classes = (7, 2)
    for _ in range(2):  # computed, then from its own cache
        ds = datasets.load_dataset(cfg)
        keep = np.isin(everything.labels, [2, 7])
        np.testing.assert_array_equal(ds.labels, everything.labels[keep])
        np.testing.assert_array_equal(ds.images, everything.images[keep])
        assert len(ds.labels) == 20 and ds.num_classes == 10 and "classes 7,2" in ds.description
    cfg.classes = ()  # another cache entry: all 100
    assert len(datasets.load_dataset(cfg).labels) == 100


def test_reachability_probe_is_bounded():
    start = time.perf_counter()
    assert datasets.can_reach("host.invalid", timeout=2.0) is False
    assert time.perf_counter() - start < 5


def test_tfds_source_through_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        ds = datasets.load_dataset(dataset_config(source="tfds", name="cifar10", resolution=32, channels=3))
    assert ds.read(np.arange(len(ds))).shape == (12, 32, 32, 3) and ds.num_classes == 10
    assert ds.labels.min() >= 0 and ds.labels.max() < 10


def test_tfds_streams_fitted_examples_and_caches_them_a_chunk_at_a_time(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        source = tfds.data_source("cifar10", split="train")
        native = np.stack([source[i]["image"] for i in range(20)])
        labels = np.array([source[i]["label"] for i in range(20)])
        cfg = dataset_config(source="tfds", name="cifar10", resolution=16, channels=1, resize="resize")
        ds = datasets.load_dataset(cfg)
        cfg.classes = (int(labels[3]),)
        subset = datasets.load_dataset(cfg)
        cfg.update(classes=(), cache_dir=str(tmp_path))
        cached = datasets.load_dataset(cfg)
    assert not ds.in_memory and not hasattr(ds, "images") and "tfds cifar10:train" in ds.description
    want = datasets.fit_resolution(datasets.fit_channels(native, 1), 16, "resize")
    np.testing.assert_array_equal(ds.labels, labels)
    np.testing.assert_array_equal(ds.read([5, 0, 5]), want[[5, 0, 5]])  # any order, repeats
    np.testing.assert_array_equal(subset.labels, labels[labels == labels[3]])
    np.testing.assert_array_equal(subset.read(np.arange(len(subset))), want[labels == labels[3]])
    assert cached.in_memory and isinstance(cached.images, np.memmap) and "cached" in cached.description
    np.testing.assert_array_equal(cached.images, want)


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed")
def test_debian_fashion_mnist_is_found_automatically():
    ds = datasets.load_dataset(dataset_config(name="fashion_mnist", split="test"))
    assert ds.images.shape == (10_000, 28, 28, 1) and ds.num_classes == 10
    assert np.bincount(ds.labels).tolist() == [1000] * 10


def _png(path, array, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array, mode).save(path)


def test_sixteen_bit_pngs_are_scaled_not_clipped(tmp_path):
    grey16 = np.arange(16, dtype=np.uint16).reshape(4, 4) * 4369  # 0 .. 65535
    Image.fromarray(grey16).save(tmp_path / "a.png")
    images, _, _ = datasets.load_folder(str(tmp_path), 4, 1, "pad", 0)
    np.testing.assert_array_equal(images[0, ..., 0], np.rint(grey16 / 257.0).astype(np.uint8))
    assert images.min() == 0 and images.max() == 255 and len(np.unique(images)) == 16


def test_a_symlink_loop_reads_each_image_once(tmp_path):
    for c in ("a", "b"):
        _png(str(tmp_path / c / "x.png"), np.zeros((4, 4), np.uint8))
    os.symlink(str(tmp_path), str(tmp_path / "a" / "loop"))
    images, labels, classes = datasets.load_folder(str(tmp_path), 4, 1, "pad", 0)
    assert len(images) == 2 and classes == 2


def test_folder_errors_name_the_file(tmp_path):
    _png(str(tmp_path / "big" / "c0" / "large.png"), np.zeros((40, 40), np.uint8))
    with pytest.raises(DataError, match=r"large\.png: cannot pad 40x40 images to 28x28"):
        datasets.load_folder(str(tmp_path / "big"), 28, 1, "pad", 0)
    for c in ("c0", "c1"):
        _png(str(tmp_path / "tree" / c / "x.png"), np.zeros((4, 4), np.uint8))
    _png(str(tmp_path / "tree" / "stray.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(
        DataError, match=r"1 image\(s\) at the top of .* \(e\.g\. stray\.png\) beside 2 in sub-folders"
    ):
        datasets.load_folder(str(tmp_path / "tree"), 4, 1, "pad", 0)


def test_bad_npz_files_are_one_line(tmp_path):
    np.savez(tmp_path / "short.npz", images=np.zeros((4, 4, 4), np.uint8), labels=np.zeros(3, np.int32))
    with pytest.raises(DataError, match="has 3 labels for 4 images"):
        datasets.load_npz(str(tmp_path / "short.npz"))
    data = (tmp_path / "short.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or not an .npz"):
        datasets.load_npz(str(tmp_path / "cut.npz"))
    np.savez(tmp_path / "obj.npz", images=np.array([np.zeros(3), "x"], dtype=object))
    with pytest.raises(DataError, match="holds Python objects .* never unpickles"):
        datasets.load_npz(str(tmp_path / "obj.npz"))


def test_cache_dir_that_is_a_file_and_a_cache_that_sees_new_images(tmp_path):
    for i in range(3):
        _png(str(tmp_path / "imgs" / f"{i}.png"), np.full((28, 28), i, np.uint8))
    (tmp_path / "afile").write_text("x")
    config = dataset_config(source="folder", path=str(tmp_path / "imgs"), cache_dir=str(tmp_path / "afile"))
    with pytest.raises(DataError, match="cache_dir=.* is a file, not a folder"):
        datasets.load_dataset(config)
    config.cache_dir = str(tmp_path / "cache")
    assert len(datasets.load_dataset(config)) == 3
    assert len(datasets.load_dataset(config)) == 3  # from the cache
    for i in range(3, 8):
        _png(str(tmp_path / "imgs" / f"{i}.png"), np.full((28, 28), i, np.uint8))
    assert len(datasets.load_dataset(config)) == 8


def test_fit_resolution_to_a_rectangle():
    """(H, W) targets: 'pad' and 'crop' centre without resampling; 'resize' crops the centre
    to the target's aspect first, so a square target keeps the square behaviour."""
    from gan_jax.data.files import fit_resolution

    images = np.arange(2 * 20 * 30, dtype=np.uint8).reshape(2, 20, 30, 1)
    padded = fit_resolution(images, (24, 32), "pad")
    assert padded.shape == (2, 24, 32, 1)
    np.testing.assert_array_equal(padded[:, 2:22, 1:31], images)
    assert not padded[:, :2].any() and not padded[:, :, :1].any()
    np.testing.assert_array_equal(fit_resolution(images, (12, 16), "crop"), images[:, 4:16, 7:23])
    resized = fit_resolution(images, (12, 16), "resize")  # 20 x 30 → its centre 20 x 26 (4:3) → 12 x 16
    assert resized.shape == (2, 12, 16, 1)
    from PIL import Image

    expected = np.asarray(Image.fromarray(images[0, :, 2:28, 0]).resize((16, 12), Image.BILINEAR))
    np.testing.assert_array_equal(resized[0, ..., 0], expected)
    np.testing.assert_array_equal(
        fit_resolution(images, 16, "resize"), fit_resolution(images, (16, 16), "resize")
    )


def test_synthetic_images_take_a_rectangle():
    from gan_jax.data.sources import synthetic

    rect, labels = synthetic(12, (24, 32), 1)
    square, same = synthetic(12, 32, 1)
    assert rect.shape == (12, 24, 32, 1) and square.shape == (12, 32, 32, 1)
    np.testing.assert_array_equal(labels, same)
