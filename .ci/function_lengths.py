"""The longest functions of a package, by lines from ``def`` to the last line of the body.

    python .ci/function_lengths.py gan_jax               # the 10 longest
    python .ci/function_lengths.py gan_jax --max 60      # and exit 1 if one is longer

`make lint` runs the second form: no function in gan_jax/ is longer than 60 lines.
"""

import argparse
import ast
import pathlib
import sys


def lengths(root: pathlib.Path) -> list[tuple[int, str, str]]:
    """(lines, 'path:line', name) of every function and method under ``root``, longest first."""
    rows = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                rows.append((node.end_lineno - node.lineno + 1, f"{path}:{node.lineno}", node.name))
    return sorted(rows, key=lambda r: (-r[0], r[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=pathlib.Path)
    p.add_argument("--max", type=int, default=0, help="fail when a function is longer (0: only report)")
    p.add_argument("--top", type=int, default=10)
    args = p.parse_args(argv)
    rows = lengths(args.root)
    for n, where, name in rows[: args.top]:
        print(f"{n:4d}  {name}  {where}")
    over = [r for r in rows if args.max and r[0] > args.max]
    if over:
        print(f"{len(over)} function(s) longer than {args.max} lines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
