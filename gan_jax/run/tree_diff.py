"""Where two pytrees of arrays differ: each array named by its key path, and the first name
whose array is missing on one side or differs in shape or dtype."""

from typing import Any, Iterable

import jax

KEY_ATTRS = ("key", "name", "idx")


def entry_name(entry, attrs: tuple[str, ...] = KEY_ATTRS) -> str:
    """One key-path entry as text: the first of ``attrs`` it has (a dict key, an attribute
    name, a sequence index), else ``str(entry)``."""
    for attr in attrs:
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def arrays(tree, attrs: tuple[str, ...] = KEY_ATTRS) -> dict[str, Any]:
    """``'g_params/Conv_0/kernel' -> leaf`` for every leaf with a shape, in flattening order;
    ``attrs`` as in `entry_name`."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if hasattr(leaf, "shape"):
            out["/".join(entry_name(e, attrs) for e in path)] = leaf
    return out


def signature(leaf) -> tuple[tuple[int, ...], str]:
    """(shape, dtype name) of an array or of an array's metadata."""
    return tuple(leaf.shape), str(leaf.dtype)


def first_difference(
    a: dict[str, Any], b: dict[str, Any], names: Iterable[str] | None = None
) -> tuple[str, Any, Any] | None:
    """``(name, a's leaf, b's leaf)`` of the first name, in the order of ``names`` (default:
    every name of either, sorted), whose leaf is missing from ``a`` or ``b`` (None in its
    place) or differs in shape or dtype; None when every one matches."""
    for name in sorted(set(a) | set(b)) if names is None else names:
        x, y = a.get(name), b.get(name)
        if x is None or y is None or signature(x) != signature(y):
            return name, x, y
    return None
