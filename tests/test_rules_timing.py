"""Rule timing on frame timestamps: minimum duration, release, refractory period, maximum
on-time, and what a frame with missing data counts as."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from rtpose.core.types import Poses
from rtpose.triggers import ConditionRule, RuleTimer

MS = 1_000_000
FRAME_MS = 10


def _run(timer: RuleTimer, conditions: Iterable[bool]) -> list[bool]:
    return [timer.update(condition, index * FRAME_MS * MS) for index, condition in enumerate(conditions)]


@pytest.mark.parametrize("min_duration_ms", [10.0, 50.0, 100.0, 250.0])
def test_one_frame_short_of_the_minimum_never_fires(min_duration_ms: float) -> None:
    frames_needed = int(min_duration_ms // FRAME_MS) + 1  # from first to last true frame: min_duration
    assert not any(_run(RuleTimer(min_duration_ms), [True] * (frames_needed - 1) + [False] * 5))
    states = _run(RuleTimer(min_duration_ms), [True] * frames_needed + [False] * 5)
    assert states.index(True) == frames_needed - 1


def test_an_interrupted_hold_starts_again() -> None:
    conditions = [True] * 9 + [False] + [True] * 11
    states = _run(RuleTimer(100.0), conditions)
    assert states.index(True) == 20  # 10 frames after the interruption, not 10 after the start


def test_release_needs_the_condition_false_for_release_ms() -> None:
    conditions = [True] * 5 + [False] * 4 + [True] + [False] * 10
    states = _run(RuleTimer(0.0, release_ms=40.0), conditions)
    assert states[:9] == [True] * 9  # three false frames (30 ms) do not release
    assert states[9] is True
    assert states.index(False, 10) == 14  # 40 ms after the last true frame


def test_refractory_period_holds_after_release() -> None:
    timer = RuleTimer(0.0, release_ms=0.0, refractory_ms=100.0)
    conditions = [True, True, False] + [True] * 20
    states = _run(timer, conditions)
    assert states[:3] == [True, True, False]
    # released at frame 2 (20 ms); no activation before 120 ms, i.e. frame 12
    assert states.index(True, 3) == 12


def test_refractory_then_min_duration_counts_after_the_refractory_period() -> None:
    timer = RuleTimer(50.0, refractory_ms=100.0)
    conditions = [True] * 6 + [False] + [True] * 30
    states = _run(timer, conditions)
    assert states.index(True) == 5
    assert states.index(False, 5) == 6
    # refractory until 160 ms (frame 16); then 50 ms of holding: frame 21
    assert states.index(True, 7) == 21


def test_max_on_time_cuts_off_and_waits_for_the_condition_to_clear() -> None:
    timer = RuleTimer(0.0, max_on_ms=50.0)
    conditions = [True] * 20 + [False] + [True] * 3
    states = _run(timer, conditions)
    assert states[:5] == [True] * 5
    assert not any(states[5:21])  # cut off at 50 ms and stays off while the condition stays true
    assert states[21] is True  # re-armed by the false frame


def test_max_on_time_with_refractory() -> None:
    timer = RuleTimer(0.0, refractory_ms=100.0, max_on_ms=30.0)
    states = _run(timer, [True] * 3 + [True] * 3 + [False] + [True] * 20)
    assert states.index(False) == 3
    assert states.index(True, 4) == 13  # cut off at 30 ms: refractory until 130 ms


class _Scripted:
    def __init__(self, values: list[bool | None]) -> None:
        self.values = iter(values)

    def evaluate(self, poses: Poses, t_ns: int) -> bool | None:
        return next(self.values)


@pytest.mark.parametrize(
    ("hold", "expected"),
    [(False, [False, False, True, False, False, True]), (True, [False, False, True, True, True, True])],
)
def test_missing_counts_as_false_or_holds_the_last_value(hold: bool, expected: list[bool]) -> None:
    values: list[bool | None] = [None, False, True, None, None, True]
    rule = ConditionRule("r", _Scripted(values), RuleTimer(), hold_when_missing=hold)
    poses = Poses.empty(1, 1)
    assert [rule.update(poses, index * FRAME_MS * MS) for index in range(len(values))] == expected
