"""The packer against hostile sources and destinations: every fault is one `DataError`
line naming the file, a skip where ``bad_images='skip'`` allows it, and nothing that
existed is removed (docs/reliability.md, round three)."""

import os
import resource
import signal
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from gan_jax.data import packed
from gan_jax.data.files import load_folder
from gan_jax.data.pack_writer import Request, pack
from gan_jax.errors import ConfigError, DataError


def quiet(_message: str) -> None:
    pass


def files(folder) -> dict:
    return {
        os.path.relpath(os.path.join(root, n), folder): open(os.path.join(root, n), "rb").read()
        for root, _, names in os.walk(folder)
        for n in names
    }


def grey_png(path, value: int = 100, size: int = 8) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((size, size), value, np.uint8)).save(path)


def two_classes(root) -> None:
    for c, value in (("a_coat", 50), ("c_bag", 200)):
        for i in range(3):
            grey_png(os.path.join(root, c, f"{i}.png"), value + i)


def test_overwrite_refuses_a_folder_with_other_files_before_removing_anything(tmp_path):
    two_classes(tmp_path / "src")
    dest = tmp_path / "out"
    pack(Request(str(tmp_path / "src"), resolution=8), str(dest), log=quiet)
    (dest / "notes.txt").write_text("keep me")
    before = files(dest)
    with pytest.raises(DataError, match="holds files that are not a pack's .*notes.txt"):
        pack(Request(str(tmp_path / "src"), resolution=4), str(dest), overwrite=True, log=quiet)
    assert files(dest) == before
    assert len(packed.open_packed(str(dest))) == 6


def test_a_request_that_differs_names_the_file_and_the_values(tmp_path):
    two_classes(tmp_path / "src")
    dest = tmp_path / "out"
    pack(Request(str(tmp_path / "src"), resolution=8), str(dest), log=quiet)
    with pytest.raises(DataError) as e:
        pack(Request(str(tmp_path / "src"), resolution=4), str(dest), log=quiet)
    assert str(dest / "dataset.json") in str(e.value)
    assert "resolution: 8 there, 4 here" in str(e.value)


def test_a_finished_pack_with_a_shard_deleted_is_packed_again(tmp_path):
    two_classes(tmp_path / "src")
    dest = tmp_path / "out"
    request = Request(str(tmp_path / "src"), resolution=8, shards=2)
    pack(request, str(dest), log=quiet)
    whole = files(dest)
    (dest / packed.shard_name(1, 2)).unlink()
    log = []
    pack(request, str(dest), log=log.append)
    assert any("is damaged or incomplete" in line and "missing" in line for line in log), log
    assert files(dest) == whole
    packed.verify(packed.open_packed(str(dest)))


def test_an_empty_class_folder_is_refused_rather_than_shifting_the_labels(tmp_path):
    two_classes(tmp_path / "src")
    (tmp_path / "src" / "b_empty").mkdir()
    with pytest.raises(DataError, match="class folder .*b_empty holds no images"):
        pack(Request(str(tmp_path / "src"), resolution=8), str(tmp_path / "out"), log=quiet)
    with pytest.raises(DataError, match="b_empty holds no images"):
        load_folder(str(tmp_path / "src"), 8, 1, "resize", 0)
    assert not (tmp_path / "out" / "dataset.json").exists()
    # Hidden folders (.ipynb_checkpoints and the like) are not classes.
    (tmp_path / "src" / "b_empty").rmdir()
    (tmp_path / "src" / ".hidden").mkdir()
    pack(Request(str(tmp_path / "src"), resolution=8), str(tmp_path / "out"), log=quiet)
    labels = packed.open_packed(str(tmp_path / "out")).labels
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_a_class_whose_images_are_all_skipped_keeps_the_labels_of_the_others(tmp_path):
    two_classes(tmp_path / "src")
    os.makedirs(tmp_path / "src" / "b_broken")
    (tmp_path / "src" / "b_broken" / "0.png").write_bytes(b"not a png")
    images, labels, num_classes = load_folder(str(tmp_path / "src"), 8, 1, "resize", 0, bad_images="skip")
    assert num_classes == 3 and labels.tolist() == [0, 0, 0, 2, 2, 2]


def test_negative_labels_in_an_npz_are_refused(tmp_path):
    path = tmp_path / "neg.npz"
    np.savez(path, images=np.zeros((3, 8, 8), np.uint8), labels=np.array([0, -1, 2]))
    with pytest.raises(DataError, match="label -1 at index 1; labels are class indices, 0 or more"):
        pack(Request(str(path), resolution=8), str(tmp_path / "out"), log=quiet)


def test_float_images_are_scaled_not_blackened(tmp_path):
    src = tmp_path / "src"
    os.makedirs(src)
    ramp = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(ramp, mode="F").save(src / "unit.tiff")
    Image.fromarray(ramp * 255, mode="F").save(src / "wide.tiff")
    pack(Request(str(src), resolution=8, format="png"), str(tmp_path / "out"), log=quiet)
    images = packed.open_packed(str(tmp_path / "out")).read([0, 1])
    expected = np.rint(ramp * 255).astype(np.uint8)
    np.testing.assert_array_equal(images[0, ..., 0], expected)
    np.testing.assert_array_equal(images[1, ..., 0], expected)
    Image.fromarray(ramp * 1000, mode="F").save(src / "wide.tiff")
    with pytest.raises(DataError, match=r"wide.tiff is a floating-point image with values in \[0, 1000\]"):
        pack(Request(str(src), resolution=8), str(tmp_path / "bad"), log=quiet)


@pytest.mark.parametrize("kind", ["fifo", "dangling"])
def test_fifos_and_dangling_links_fail_or_skip_by_name(tmp_path, kind):
    two_classes(tmp_path / "src")
    odd = tmp_path / "src" / "a_coat" / "odd.png"
    if kind == "fifo":
        os.mkfifo(odd)
        why = "is not a regular file"
    else:
        os.symlink(tmp_path / "gone.png", odd)
        why = "is a symbolic link to a missing file"
    with pytest.raises(DataError, match=f"odd.png {why}.*--bad_images=skip"):
        pack(Request(str(tmp_path / "src"), resolution=8), str(tmp_path / "out"), log=quiet)
    info = pack(
        Request(str(tmp_path / "src"), resolution=8, bad_images="skip"), str(tmp_path / "out"), log=quiet
    )
    assert info["count"] == 6 and why in info["skipped"][0]["error"]


def _zip_with(tmp_path, damage: str) -> str:
    """A zip of two class folders whose member a_coat/1.png is damaged as ``damage`` says."""
    path = str(tmp_path / f"{damage}.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for c in ("a_coat", "c_bag"):
            for i in range(3):
                buffer = tmp_path / "m.png"
                grey_png(str(buffer), 40 * i + (c == "c_bag"), size=32)
                z.write(buffer, f"{c}/{i}.png")
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("a_coat/1.png")
    header = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[header + 26 : header + 30])
    start = header + 30 + name_len + extra_len
    if damage == "deflate":
        data[start : start + 8] = b"\xff" * 8
    elif damage == "encrypted":
        flags = struct.unpack("<H", data[header + 6 : header + 8])[0] | 1
        data[header + 6 : header + 8] = struct.pack("<H", flags)
        central = data.find(b"a_coat/1.png", data.find(b"PK\x01\x02")) - 46
        data[central + 8 : central + 10] = struct.pack("<H", flags)
    elif damage == "method":
        central = data.find(b"a_coat/1.png", data.find(b"PK\x01\x02")) - 46
        data[central + 10 : central + 12] = struct.pack("<H", 98)  # PPMd
        data[header + 8 : header + 10] = struct.pack("<H", 98)
    open(path, "wb").write(bytes(data))
    return path


@pytest.mark.parametrize(
    "damage, why",
    [
        ("deflate", "damaged compressed data"),
        ("encrypted", "encrypted"),
        ("method", "unsupported compression method"),
    ],
)
def test_damaged_zip_members_fail_or_skip_by_name(tmp_path, damage, why):
    path = _zip_with(tmp_path, damage)
    with pytest.raises(DataError, match=f"cannot read .*{damage}.zip:a_coat/1.png: .*{why}"):
        pack(Request(path, resolution=8), str(tmp_path / "out"), log=quiet)
    info = pack(Request(path, resolution=8, bad_images="skip"), str(tmp_path / "out"), log=quiet)
    assert info["count"] == 5 and "a_coat/1.png" in info["skipped"][0]["name"]
    assert packed.open_packed(str(tmp_path / "out")).labels.tolist() == [0, 0, 1, 1, 1]


def test_an_absurd_resolution_is_refused_before_any_allocation(tmp_path):
    two_classes(tmp_path / "src")
    with pytest.raises(ConfigError, match=r"--resolution=100000 must be in \[1, 8192\] .*28 GiB"):
        pack(Request(str(tmp_path / "src"), resolution=100000), str(tmp_path / "out"), log=quiet)


def test_a_full_disk_is_one_line_and_the_same_command_resumes(tmp_path):
    """A file-size limit (what `ulimit -f` sets) makes the shard's write fail as a full disk does."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        os.makedirs(tmp_path / "src" / c)
        for i in range(6):
            noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(noise).save(tmp_path / "src" / c / f"{i}.png")
    args = [
        "--source",
        str(tmp_path / "src"),
        "--dest",
        str(tmp_path / "out"),
        "--resolution",
        "64",
        "--shards",
        "2",
    ]

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    command = [sys.executable, "-m", "gan_jax.tools.dataset_tool", *args]
    full = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, preexec_fn=limited)
    assert full.returncode == 2, full.stderr
    assert full.stderr.startswith("error: cannot write the pack in ") and len(full.stderr.splitlines()) == 1
    assert "run the same command to resume" in full.stderr
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    packed.verify(packed.open_packed(str(tmp_path / "out")))


def test_an_unwritable_dest_is_one_line(tmp_path):
    two_classes(tmp_path / "src")
    dest = tmp_path / "locked"
    dest.mkdir()
    dest.chmod(0o555)
    if os.access(dest, os.W_OK):  # root writes into mode-555 folders; a read-only mount stops it
        dest = next(
            (p for p in ("/sys/fs", "/proc/sys") if os.path.isdir(p) and not os.access(p, os.W_OK)), None
        )
    if dest is None:
        pytest.skip("no folder here that this user cannot write (root, and no read-only mount)")
    with pytest.raises(DataError, match="is not writable"):
        pack(Request(str(tmp_path / "src"), resolution=8), str(dest), log=quiet)
