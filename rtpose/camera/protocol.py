"""The Camera protocol: what the grab thread needs from any camera backend.

Lifecycle: construct (opens the device, validates settings) → ``start()`` → ``grab_into()``
repeatedly from ONE thread (the grab thread) → ``stop()`` → ``close()``. ``close()`` must be
safe to call at any point, more than once, including after a failed ``start()``.

Buffer ownership: rtpose owns the frame buffers (a ring allocated once); the camera fills the
buffer it is given and keeps no reference to it. Backends that release the GIL while waiting for
a frame (pypylon does) let the hot loop run meanwhile.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from rtpose.core.types import ImageArray


@runtime_checkable
class Camera(Protocol):
    frame_shape: tuple[int, int, int]
    """(height, width, channels) of every frame; fixed for the camera's lifetime."""

    nominal_fps: float | None
    """The configured frame rate, or None when the camera free-runs at an unknown rate."""

    def start(self) -> None:
        """Begin acquisition. Frame ids count from 0 after each start."""

    def grab_into(self, out: ImageArray, timeout_s: float) -> tuple[int, int | None]:
        """Wait for the next frame and copy it into ``out`` (``frame_shape``, uint8).

        Returns (frame_id, camera_timestamp_ns). Frame ids increase; a gap means the camera
        skipped frames (counted as drops). camera_timestamp_ns is None when the camera has no
        timestamp on the host clock. Raises CameraError on failure or timeout.
        """
        ...

    def stop(self) -> None:
        """End acquisition; ``grab_into`` must not be called afterwards until ``start()``."""

    def close(self) -> None:
        """Release the device. Idempotent."""
