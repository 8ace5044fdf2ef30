"""The frame ring: LATEST hands the loop the newest frame and counts the skipped ones; EVERY
delivers every frame in order; a camera failure reaches the loop as CameraError."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rtpose.core.config import FramePolicy
from rtpose.core.errors import CameraError
from rtpose.loop.frame_ring import FrameRing, RingClosed


def _put(ring: FrameRing, frame_id: int) -> None:
    index = ring.acquire_write()
    ring.buffer(index)[:] = frame_id % 256
    ring.publish(index, frame_id, frame_id * 10, None)


def test_latest_gives_newest_and_counts_skipped() -> None:
    ring = FrameRing((4, 4, 1), FramePolicy.LATEST)
    for frame_id in range(5):
        _put(ring, frame_id)
    taken = ring.take(0.1)
    assert taken is not None
    index, frame = taken
    assert frame.frame_id == 4 and frame.image[0, 0, 0] == 4
    assert ring.skipped_in_ring == 4
    # while the loop holds a buffer, the grab thread can still write new frames
    for frame_id in range(5, 9):
        _put(ring, frame_id)
    assert frame.image[0, 0, 0] == 4  # the held buffer was not overwritten
    ring.release(index)
    taken = ring.take(0.1)
    assert taken is not None and taken[1].frame_id == 8
    assert ring.take(0.01) is None


def test_every_delivers_all_frames_in_order_with_backpressure() -> None:
    ring = FrameRing((2, 2, 1), FramePolicy.EVERY, slots=3)
    received: list[int] = []

    def producer() -> None:
        for frame_id in range(50):
            _put(ring, frame_id)

    thread = threading.Thread(target=producer)
    thread.start()
    while len(received) < 50:
        taken = ring.take(1.0)
        assert taken is not None
        received.append(taken[1].frame_id)
        ring.release(taken[0])
    thread.join()
    assert received == list(range(50))
    assert ring.skipped_in_ring == 0


def test_camera_failure_reaches_loop_and_close_stops_writer() -> None:
    ring = FrameRing((2, 2, 1), FramePolicy.LATEST)
    ring.fail(OSError("USB cable pulled"))
    with pytest.raises(CameraError, match="USB cable pulled"):
        ring.take(0.1)
    ring.close()
    with pytest.raises(RingClosed):
        ring.acquire_write()


def test_buffers_can_come_from_the_engine_and_must_fit_the_frames() -> None:
    made: list[np.ndarray] = []

    def allocate() -> np.ndarray:
        made.append(np.zeros((4, 4, 1), np.uint8))
        return made[-1]

    ring = FrameRing((4, 4, 1), FramePolicy.LATEST, allocate=allocate)
    assert len(made) == 3 and ring.external_buffers
    _put(ring, 7)
    taken = ring.take(0.1)
    assert taken is not None and any(taken[1].image is buffer for buffer in made)
    with pytest.raises(ValueError, match=r"C-contiguous uint8 \(4, 4, 1\), got uint8 \(4, 4\)"):
        FrameRing((4, 4, 1), FramePolicy.LATEST, allocate=lambda: np.zeros((4, 4), np.uint8))
