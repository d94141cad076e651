"""What every entry point shares: flag parsing and turning user errors into one line.

`run(main)` wraps `absl.app.run`: a `GanJaxError` raised anywhere (bad config field,
missing data, incompatible checkpoint), or a bad command-line flag, prints
``error: <what is wrong and how to fix it>`` on stderr and exits with status 2,
without a traceback.
"""

import sys
from typing import Callable

from absl import app, flags

from gan_jax.errors import GanJaxError

USAGE_ERROR = 2


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(" ".join(str(e).split()))
    return []


def run(main: Callable[[list[str]], None]) -> None:
    def guarded(argv):
        try:
            main(argv)
        except GanJaxError as e:
            fail(" ".join(str(e).split()))

    app.run(guarded, flags_parser=_parse_flags)
