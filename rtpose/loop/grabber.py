"""The grab thread: camera → frame ring, timestamping each frame at arrival."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rtpose.camera.protocol import Camera
from rtpose.core.clock import now_ns
from rtpose.core.errors import EndOfStream
from rtpose.core.types import ImageArray
from rtpose.loop.frame_ring import FrameRing, RingClosed


class GrabThread:
    """Runs ``camera.grab_into`` in its own thread. A camera error is handed to the ring, so the
    loop stops through its normal exit path (outputs off).

    ``tap(frame_id, image)``, if given, sees every grabbed frame right after it was handed to the
    loop (the video recorder copies it then); it runs on the grab thread and must not block.
    """

    def __init__(
        self,
        camera: Camera,
        ring: FrameRing,
        timeout_s: float = 2.0,
        tap: Callable[[int, ImageArray], None] | None = None,
    ) -> None:
        self._camera = camera
        self._tap = tap
        self._ring = ring
        self._timeout_s = timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtpose-grab", daemon=True)
        self.frames_grabbed = 0
        self.end_of_stream = False
        """The camera raised EndOfStream (a video ended): the run completed, it did not fail."""

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                index = self._ring.acquire_write()
                frame_id, camera_timestamp_ns = self._camera.grab_into(
                    self._ring.buffer(index), self._timeout_s
                )
                self._ring.publish(index, frame_id, now_ns(), camera_timestamp_ns)
                self.frames_grabbed += 1
                if self._tap is not None:  # only this thread writes ring buffers: the frame is intact
                    self._tap(frame_id, self._ring.buffer(index))
        except RingClosed:
            pass
        except EndOfStream:  # a finite source ran out: the loop drains the ring, then ends normally
            self.end_of_stream = True
            self._ring.close()
        except BaseException as error:  # handed to the loop, which owns the exit path
            self._ring.fail(error)

    def stop(self) -> bool:
        """Stop grabbing; True once the thread has left ``grab_into`` (the camera may be stopped)."""
        self._stop.set()
        self._ring.close()
        if self._thread.is_alive():
            self._thread.join(self._timeout_s + 1.0)
        return not self._thread.is_alive()
