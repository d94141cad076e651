"""One training process per workdir: an exclusive lock on ``W/.lock``.

    with workdir_lock.hold(workdir):
        ...train...

The lock is an advisory ``flock`` on the file, held for the life of the process that
trains (process 0 of a multi-process run; the others write nothing the lock protects). The
operating system releases it when that process ends in any way, kill -9 included, so a
lock left by a dead process is simply taken over; the file names the holder (pid, host,
start time) so that a refused start can say who holds it. A second start on a busy
workdir is refused with one line (`ConfigError`, exit status 2) before anything in the
workdir is touched.
"""

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import stat
from typing import Iterator

import jax

from gan_jax.run import writers
from gan_jax.errors import ConfigError

LOCK = ".lock"


def _holder(f) -> dict:
    f.seek(0)
    try:
        return json.loads(f.read() or "{}")
    except ValueError:
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started', '?')}"


def _open_lock_file(path: str):
    """The lock file, opened without following a symbolic link: the lock's holder record
    is written into it, so a link to another file is refused rather than written through."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(
                f"{path} is a symbolic link; the workdir's lock is a plain file that gan_jax "
                f"writes, so it will not write through a link. Remove the link and run again"
            ) from None
        raise ConfigError(f"cannot create the lock file {path}: {e.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"{path} is not a plain file; remove it and run again")
    return os.fdopen(fd, "r+")


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[None]:
    """Holds ``workdir``'s lock for the ``with`` block (a no-op outside process 0)."""
    if jax.process_index() != 0:
        yield
        return
    path = os.path.join(workdir, LOCK)
    f = _open_lock_file(path)
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ConfigError(f"cannot lock {path}: {e.strerror}") from None
            raise ConfigError(
                f"workdir {workdir} is in use by a training process ({_describe(_holder(f))}); "
                f"wait for it or stop it, or train in another --workdir"
            ) from None
        previous = _holder(f)
        if previous and previous.get("pid") != os.getpid():
            writers.log(
                f"took over the lock of {workdir} left by {_describe(previous)}, which is no longer running"
            )
        f.seek(0)
        f.truncate()
        f.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.datetime.now().isoformat(timespec="seconds"),
                }
            )
        )
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()  # an empty file: nobody holds it
            f.flush()
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    finally:
        f.close()
