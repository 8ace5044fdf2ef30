"""Frame buffers shared by the grab thread and the hot loop, allocated once.

Two policies (``FramePolicy``):
- ``LATEST`` (closed loop): three buffers. The grab thread always has one to write into; a new
  frame replaces a pending one the loop has not taken yet (that frame is skipped and counted).
  The loop always gets the newest frame and never waits behind a backlog.
- ``EVERY`` (replay, benchmarks): a FIFO of buffers; the grab thread waits for a free buffer, so
  every frame is processed in order.

Ownership: a buffer is written only by the grab thread between ``acquire_write`` and
``publish``, and read only by the loop between ``take`` and ``release``.

Buffers: plain numpy arrays, or arrays from ``allocate`` (the session passes a GPU engine's
``pinned_frame_buffer``, so that the engine uploads each frame straight from page-locked memory:
no host copy, full bus speed). Such buffers belong to the engine and live until it is closed.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import numpy as np

from rtpose.core.config import FramePolicy
from rtpose.core.errors import CameraError
from rtpose.core.types import GrabbedFrame


def _checked(buffer: np.ndarray, frame_shape: tuple[int, int, int]) -> np.ndarray:
    if buffer.shape != frame_shape or buffer.dtype != np.uint8 or not buffer.flags.c_contiguous:
        raise ValueError(
            f"a frame buffer must be C-contiguous uint8 {frame_shape}, got {buffer.dtype} {buffer.shape}"
        )
    return buffer


class RingClosed(Exception):
    """The ring was closed: the grab thread should stop."""


class FrameRing:
    def __init__(
        self,
        frame_shape: tuple[int, int, int],
        policy: FramePolicy,
        slots: int = 8,
        allocate: Callable[[], np.ndarray] | None = None,
    ) -> None:
        self.policy = policy
        count = 3 if policy is FramePolicy.LATEST else max(slots, 2)
        self._buffers = [
            _checked(allocate(), frame_shape) if allocate else np.zeros(frame_shape, np.uint8)
            for _ in range(count)
        ]
        self.external_buffers = allocate is not None
        self._frames = [GrabbedFrame(0, buffer, 0) for buffer in self._buffers]
        self._free: deque[int] = deque(range(count))
        self._ready: deque[int] = deque()
        self._condition = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self.skipped_in_ring = 0
        """Frames grabbed but replaced by a newer one before the loop took them (LATEST)."""

    def acquire_write(self) -> int:
        """Grab thread: a free buffer index to write the next frame into (waits under EVERY)."""
        with self._condition:
            while True:
                if self._closed:
                    raise RingClosed
                if self._free:
                    return self._free.popleft()
                if self.policy is FramePolicy.LATEST and self._ready:
                    self.skipped_in_ring += 1
                    return self._ready.popleft()
                self._condition.wait()

    def buffer(self, index: int) -> np.ndarray:
        return self._buffers[index]

    def publish(self, index: int, frame_id: int, grab_ns: int, camera_timestamp_ns: int | None) -> None:
        """Grab thread: hand a written buffer to the loop."""
        frame = self._frames[index]
        frame.frame_id, frame.grab_ns, frame.camera_timestamp_ns = frame_id, grab_ns, camera_timestamp_ns
        with self._condition:
            if self.policy is FramePolicy.LATEST:
                while self._ready:  # an older pending frame is now stale
                    self._free.append(self._ready.popleft())
                    self.skipped_in_ring += 1
            self._ready.append(index)
            self._condition.notify_all()

    def take(self, timeout_s: float) -> tuple[int, GrabbedFrame] | None:
        """Loop: the next frame (newest under LATEST), or None on timeout.

        Raises CameraError when the grab thread failed, and RingClosed once closed and drained.
        """
        with self._condition:
            if not self._ready and self._error is None and not self._closed:
                self._condition.wait(timeout_s)
            if self._error is not None:
                raise CameraError(
                    f"camera failed: {type(self._error).__name__}: {self._error}"
                ) from self._error
            if not self._ready:
                if self._closed:
                    raise RingClosed
                return None
            index = self._ready.popleft()
            return index, self._frames[index]

    @property
    def frames_waiting(self) -> int:
        """Frames published but not taken (at the end of a run: grabbed, never processed)."""
        with self._condition:
            return len(self._ready)

    def release(self, index: int) -> None:
        """Loop: the buffer may be reused."""
        with self._condition:
            self._free.append(index)
            self._condition.notify_all()

    def fail(self, error: BaseException) -> None:
        """Grab thread: the camera failed; the loop's next ``take`` raises."""
        with self._condition:
            self._error = error
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
