"""benchmarks/step_ab.py: the variants alternate round by round, and the reported speed-up
is the median of per-round ratios, so a host that slows down during the run does not bias
it."""

import os
import sys

import pytest

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import step_ab  # noqa: E402


def test_alternating_rounds_cancel_a_drifting_host(monkeypatch):
    calls = []
    clock = {"slowdown": 1.0}

    def fake_timer(variant, state, batch, key, steps):
        def run():
            calls.append(variant)
            clock["slowdown"] *= 1.1  # the host slows down 10% per timed call
            return steps * {"A": 0.004, "B": 0.002}[variant] * clock["slowdown"]

        return run

    monkeypatch.setattr(step_ab, "compiled_step", lambda name, b, overrides: (overrides[0], None, None, None))
    monkeypatch.setattr(step_ab, "timer", fake_timer)
    row = step_ab.compare("dcgan_cifar10", 64, ["A"], ["B"], rounds=9, steps=2)
    assert calls == ["A", "B"] * 12  # 3 warm-up rounds, then 9 timed, always A then B
    # Each round's B ran 1.1x later than its A: t_A / t_B = 2 / 1.1 in every round.
    assert row["speedup_b_over_a"] == pytest.approx(2 / 1.1)
    assert row["speedup_iqr"] == pytest.approx([2 / 1.1, 2 / 1.1])
    # Sequential medians would report the drift too; the per-variant figures are medians.
    assert row["a_images_per_s"] < 64 / 0.004 and row["b_images_per_s"] < 64 / 0.002


def test_quartiles():
    assert step_ab.quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)
