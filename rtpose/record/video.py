"""Records the raw camera frames to a lossless video, off the hot loop: ``record.video = true``.

Codec: FFV1 (lossless, intra-only: every frame decodes on its own, so a file cut short by a
killed process still decodes up to where it stops) in Matroska (``video.mkv``), gray for 1-channel
frames, planar RGB for 3-channel ones. PyAV's wheels bundle FFmpeg with FFV1 (``rtpose[video]``).

Threading and buffers: ``offer`` is called by the grab thread right after it has handed a frame
to the loop (the grab thread is the only writer of ring buffers, so the frame cannot change while
it is copied, and the loop does not wait for the copy). It copies the frame into one of
``queue_frames`` buffers allocated at start and queues it; when every buffer is waiting for the
encoder, the frame is left out of the video and counted (``dropped``), never waited for. The
writer thread encodes, and appends the frame's camera id to the sidecar (``video_frame_ids.bin``,
little-endian uint64, one per video frame), so that video frame ``i`` is frame id
``sidecar[i]`` whatever was dropped. Each packet and each sidecar entry is handed to the OS as
it is written (FFmpeg's ``flush_packets``; an unbuffered sidecar), so a killed process loses only
the frames still waiting for the encoder.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.core.extras import require
from rtpose.core.types import ImageArray
from rtpose.record.layout import VIDEO_FRAME_ID_DTYPE, video_frame_ids_path

CODEC = "ffv1"
_PIXEL_FORMATS = {1: ("gray", "gray"), 3: ("rgb24", "gbrp")}  # channels: (input, encoded)
_STOP = (-1, -1)


class VideoRecorder:
    """Writes frames offered by the grab thread to ``path`` on its own thread (module docstring)."""

    def __init__(
        self,
        path: Path,
        frame_shape: tuple[int, int, int],
        fps: float | None,
        queue_frames: int = 64,
    ) -> None:
        av = require("av", "video", "Video recording (record.video)")
        height, width, channels = frame_shape
        if channels not in _PIXEL_FORMATS:
            raise ValueError(f"video recording takes 1- or 3-channel frames, not {channels}")
        self.path = Path(path)
        self.frame_shape = frame_shape
        self._av = av
        self._input_format, encoded_format = _PIXEL_FORMATS[channels]
        self._buffers = np.empty((queue_frames, *frame_shape), np.uint8)
        self._free: deque[int] = deque(range(queue_frames))
        self._queue: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        self._container: Any = av.open(
            str(self.path), mode="w", format="matroska", container_options={"flush_packets": "1"}
        )
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(30)
        self._stream: Any = self._container.add_stream(CODEC, rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = encoded_format
        self._stream.codec_context.options = {"slices": "4", "slicecrc": "1"}
        self._stream.thread_type = "SLICE"
        # unbuffered: 8 bytes per frame, never behind the encoder when the process is killed
        self._ids = open(video_frame_ids_path(self.path), "xb", buffering=0)  # noqa: SIM115
        self.frames_written = 0
        self.dropped = 0
        """Frames offered but left out of the video: no free buffer (the encoder fell behind),
        or the writer had failed."""
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rtpose-video", daemon=True)
        self._thread.start()

    def offer(self, frame_id: int, image: ImageArray) -> None:
        """Grab thread: copy ``image`` for the video, or count it dropped. Never blocks or raises."""
        try:
            slot = self._free.popleft()
        except IndexError:
            self.dropped += 1
            return
        np.copyto(self._buffers[slot], image.reshape(self.frame_shape))
        self._queue.put((slot, frame_id))

    def _run(self) -> None:
        while True:
            slot, frame_id = self._queue.get()
            if (slot, frame_id) == _STOP:
                return
            if self.error is None:
                try:
                    self._encode(self._buffers[slot], frame_id)
                except Exception as error:
                    self.error = error
            if self.error is not None:
                self.dropped += 1
            self._free.append(slot)

    def _encode(self, image: np.ndarray, frame_id: int) -> None:
        pixels = image[:, :, 0] if self._input_format == "gray" else image
        frame = self._av.VideoFrame.from_ndarray(pixels, format=self._input_format)
        frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._ids.write(np.array(frame_id, VIDEO_FRAME_ID_DTYPE).tobytes())
        self.frames_written += 1

    def close(self, timeout_s: float = 30.0) -> None:
        """Encode what is queued, finish the file; raises the writer's error, if any. Idempotent."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self.error = self.error or TimeoutError(f"the video writer did not finish in {timeout_s} s")
                raise self.error
        if self._container is not None:
            container, self._container = self._container, None
            try:
                if self.error is None:
                    for packet in self._stream.encode(None):
                        container.mux(packet)
            finally:
                container.close()
                self._ids.close()
        if self.error is not None:
            raise self.error

    def stats(self) -> dict[str, Any]:
        """For the summary: where the video is, frames in it, frames left out, any error."""
        return {
            "path": self.path.name,
            "codec": CODEC,
            "frames_written": self.frames_written,
            "dropped": self.dropped,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }
