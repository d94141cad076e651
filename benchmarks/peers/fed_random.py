"""Feeds a peer's random calls with numbers drawn elsewhere, in the order the peer asks.

A `Feeder` stands in for the ``torch`` module inside one of the peer's modules (its
networks, its loss, its augmentation pipe): ``torch.rand``, ``torch.randn``,
``torch.randn_like`` and the ``torch.empty([], dtype=torch.int64).random_(lo, hi)`` idiom
pop the next entry of a queue instead of drawing, everything else is torch itself. Each
entry is (kind, array): 'uniform', 'normal' or 'int'. A pop checks the kind and the
number of elements against the call, reshapes to the shape asked for, and a stage ends
with `Feeder.check_empty`, so a call the feeding side did not foresee, a call it foresaw
that never came, or one in another order, stops the run with a message naming it.

Nothing here draws: with every queue empty, any random call raises.
"""

import numpy as np


class FeedError(AssertionError):
    pass


class _Cutoff:
    """What ``torch.empty([], dtype=torch.int64)`` returns: ``.random_(lo, hi)`` pops an 'int'."""

    def __init__(self, feeder):
        self._feeder = feeder

    def random_(self, low, high=None):
        value = self._feeder.pop("int", ())
        if high is not None and not low <= int(value) < high:
            raise FeedError(f"{self._feeder.name}: fed int {int(value)} outside [{low}, {high})")
        return value


class Feeder:
    """The ``torch`` module as one peer module sees it, with its random calls fed."""

    def __init__(self, torch, name: str):
        self._torch, self.name, self._queue, self._stage = torch, name, [], ""

    def __getattr__(self, attr):
        return getattr(self._torch, attr)

    def load(self, stage: str, entries: list[tuple[str, np.ndarray]]) -> None:
        """The draws of ``stage`` (a label for messages), in the order they will be asked for."""
        self.check_empty()
        self._queue, self._stage = list(entries), stage

    def check_empty(self) -> None:
        if self._queue:
            kinds = [k for k, _ in self._queue]
            raise FeedError(f"{self.name}, {self._stage}: {len(kinds)} fed draws never asked for: {kinds}")

    def pop(self, kind: str, shape):
        shape = tuple(int(s) for s in shape)
        if not self._queue:
            raise FeedError(f"{self.name}, {self._stage}: a {kind} draw of shape {shape} was not fed")
        fed_kind, value = self._queue.pop(0)
        if fed_kind != kind or int(np.prod(shape)) != value.size:
            raise FeedError(
                f"{self.name}, {self._stage}: asked for {kind} {shape}, next fed is {fed_kind} {value.shape}"
            )
        dtype = self._torch.int64 if kind == "int" else self._torch.float32
        return self._torch.as_tensor(np.asarray(value).reshape(shape)).to(dtype)

    @staticmethod
    def _shape(args, kwargs):
        size = kwargs.get("size", args[0] if len(args) == 1 else args)
        return (size,) if isinstance(size, int) else tuple(size)

    def rand(self, *args, **kwargs):
        return self.pop("uniform", self._shape(args, kwargs)).to(kwargs.get("device", "cpu"))

    def randn(self, *args, **kwargs):
        return self.pop("normal", self._shape(args, kwargs)).to(kwargs.get("device", "cpu"))

    def randn_like(self, tensor, **kwargs):
        return self.pop("normal", tensor.shape).to(dtype=tensor.dtype, device=tensor.device)

    def empty(self, *args, **kwargs):
        if kwargs.get("dtype") is self._torch.int64 and self._shape(args, kwargs) == ():
            return _Cutoff(self)
        return self._torch.empty(*args, **kwargs)


def entries(arrays: dict[str, np.ndarray], prefix: str) -> list[tuple[str, np.ndarray]]:
    """The queue stored under ``prefix`` in a plan: ``prefix.kinds`` (str array) and
    ``prefix.<k>`` for the k-th draw; empty when the plan has none."""
    if f"{prefix}.kinds" not in arrays:
        return []
    kinds = [str(k) for k in arrays[f"{prefix}.kinds"]]
    return [(kind, arrays[f"{prefix}.{k}"]) for k, kind in enumerate(kinds)]
