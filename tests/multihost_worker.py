"""Runs ``train.py`` in this process and records every file it opens for writing.

    python tests/multihost_worker.py RECORD.json [train.py flags ...]

`tests/test_multihost.py` launches one of these per process and reads the records to
check which process wrote which file. Writes are seen through Python's audit events
(``open`` with a writing mode, ``os.rename`` for `os.replace`), so files written from
C++ (orbax's tensorstore) are not recorded.
"""

import atexit
import json
import os
import runpy
import sys

TRAIN_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train.py")


def main() -> None:
    record, sys.argv = sys.argv[1], [TRAIN_PY, *sys.argv[2:]]
    written: set[str] = set()

    def audit(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], str) and (args[2] or 0) & (os.O_WRONLY | os.O_RDWR):
            written.add(os.path.abspath(args[0]))
        elif event == "os.rename" and isinstance(args[1], str):
            written.add(os.path.abspath(args[1]))

    def dump() -> None:
        paths = sorted(written)  # a copy: writing the record is itself an audited open
        with open(record, "w") as f:
            json.dump(paths, f)

    sys.addaudithook(audit)
    atexit.register(dump)
    runpy.run_path(TRAIN_PY, run_name="__main__")


if __name__ == "__main__":
    main()
