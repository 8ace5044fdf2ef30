"""Block ids to frame ids, and camera ticks to the process clock (no camera needed)."""

from __future__ import annotations

from rtpose.camera.basler_timing import BLOCK_ID_UNAVAILABLE, CameraClock, FrameIdCounter
from rtpose.core.clock import now_ns


def test_ids_count_from_zero_with_gaps_and_first_skips() -> None:
    counter = FrameIdCounter()
    ids = [counter.next(block, skipped) for block, skipped in [(1003, 3), (1004, 0), (1008, 3), (1009, 0)]]
    assert ids == [3, 4, 8, 9]
    assert counter.skipped_by_id_gap == counter.skipped_reported == 6


def test_gige_block_ids_wrap_past_65535_to_1() -> None:
    counter = FrameIdCounter(wrap=65535)
    ids = [counter.next(block, 0) for block in (65534, 65535, 1, 3)]
    assert ids == [0, 1, 2, 4] and counter.skipped_by_id_gap == 1


def test_without_block_ids_the_skipped_count_is_used() -> None:
    counter = FrameIdCounter()
    assert [counter.next(BLOCK_ID_UNAVAILABLE, skipped) for skipped in (0, 2, 0)] == [0, 3, 4]


def test_camera_clock_maps_ticks_onto_the_process_clock() -> None:
    origin = now_ns()

    def latch() -> int:  # a camera counting 125 MHz ticks since ``origin``
        return (now_ns() - origin) // 8

    clock = CameraClock(latch, 125e6)
    clock.sync()
    ticks = latch()
    assert abs(clock.to_process_ns(ticks) - now_ns()) < 5_000_000
    assert clock.to_process_ns(ticks + 125_000) - clock.to_process_ns(ticks) == 1_000_000
