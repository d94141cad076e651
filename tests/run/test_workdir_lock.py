"""The workdir lock writes only into its own plain file: a ``.lock`` that is a link to a
user's file (or anything but a plain file) is refused, and the target is untouched."""

import os

import pytest

from gan_jax.errors import ConfigError
from gan_jax.run import workdir_lock


def test_a_lock_that_links_elsewhere_is_refused_and_the_target_kept(tmp_path):
    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    os.makedirs(tmp_path / "run")
    os.symlink(precious, tmp_path / "run" / workdir_lock.LOCK)
    with pytest.raises(ConfigError, match=r"\.lock is a symbolic link; .*Remove the link and run again"):
        with workdir_lock.hold(str(tmp_path / "run")):
            pass
    assert precious.read_text() == "years of work"
    os.remove(tmp_path / "run" / workdir_lock.LOCK)
    os.symlink(tmp_path / "missing", tmp_path / "run" / workdir_lock.LOCK)  # dangling: not created either
    with pytest.raises(ConfigError, match="symbolic link"):
        with workdir_lock.hold(str(tmp_path / "run")):
            pass
    assert not (tmp_path / "missing").exists()


def test_a_lock_that_is_not_a_plain_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / workdir_lock.LOCK)
    with pytest.raises(ConfigError, match=r"\.lock is not a plain file"):
        with workdir_lock.hold(str(tmp_path)):
            pass


def test_the_lock_is_taken_and_emptied_on_release(tmp_path):
    with workdir_lock.hold(str(tmp_path)):
        assert str(os.getpid()) in (tmp_path / workdir_lock.LOCK).read_text()
    assert (tmp_path / workdir_lock.LOCK).read_text() == ""
