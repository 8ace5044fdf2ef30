"""The video encoder process: ``python -m rtpose.record.video_encoder`` (started by ``VideoRecorder``).

It runs in its own process because FFmpeg's encoders, called through PyAV, hold Python's GIL for
much of each frame (measured: up to ~17 ms per 1024×1024 FFV1 frame): in a thread they would
stall the hot loop. Frames arrive in shared memory; the pipes carry only slot numbers.

Protocol (binary, little-endian):
- stdin, first line: a JSON object (``path``, ``shape``, ``fps``, ``slots``, ``memory``: the name
  of the shared memory holding ``slots`` frames of ``shape`` uint8).
- stdin, then: ``<iQ`` (slot, frame id) per frame to encode; slot -1 means stop.
- stdout: ``<iI`` (code, length) then ``length`` bytes: code ≥ 0 returns that slot (length 0);
  ``READY`` (after the file is open) and ``DONE`` (at the end) carry a JSON object. An error
  while opening is reported in ``DONE`` and the process exits.
If stdin closes without a stop (the parent process was killed), the file is finished normally.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
from fractions import Fraction
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rtpose.core.extras import require
from rtpose.record.layout import VIDEO_FRAME_ID_DTYPE, video_frame_ids_path

CODEC = "ffv1"
REQUEST = struct.Struct("<iQ")
REPLY = struct.Struct("<iI")
STOP = -1
READY = -1
DONE = -2
_PIXEL_FORMATS = {1: ("gray", "gray"), 3: ("rgb24", "bgr0")}  # channels: (input, encoded)


class FfV1Writer:
    """FFV1 in Matroska, one packet flushed to the OS as it is muxed, plus the unbuffered sidecar."""

    def __init__(self, path: Path, shape: tuple[int, int, int], fps: float | None) -> None:
        av = require("av", "video", "Video recording (record.video)")
        height, width, channels = shape
        self._av = av
        self._input_format, encoded_format = _PIXEL_FORMATS[channels]
        self._container: Any = av.open(
            str(path), mode="w", format="matroska", container_options={"flush_packets": "1"}
        )
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(30)
        self._stream: Any = self._container.add_stream(CODEC, rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = encoded_format
        self._stream.codec_context.options = {"slices": "4", "slicecrc": "1"}
        self._stream.thread_type = "SLICE"
        self._stream.codec_context.open()  # settings the codec refuses fail now, before the run starts
        self._ids = open(video_frame_ids_path(path), "xb", buffering=0)  # noqa: SIM115
        self.frames_written = 0

    def encode(self, image: np.ndarray, frame_id: int) -> None:
        pixels = image[:, :, 0] if self._input_format == "gray" else image
        frame = self._av.VideoFrame.from_ndarray(pixels, format=self._input_format)
        frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._ids.write(np.array(frame_id, VIDEO_FRAME_ID_DTYPE).tobytes())
        self.frames_written += 1

    def close(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._ids.close()


def attach(name: str) -> shared_memory.SharedMemory:
    """Attach to the parent's shared memory without handing it to this process's resource tracker
    (which would unlink it when this process exits; the parent owns it)."""
    try:
        return shared_memory.SharedMemory(name=name, track=False)  # type: ignore[call-arg,unused-ignore]
    except TypeError:  # Python < 3.13
        memory = shared_memory.SharedMemory(name=name)
        if os.name == "posix":
            from multiprocessing import resource_tracker

            resource_tracker.unregister(memory._name, "shared_memory")  # type: ignore[attr-defined]
        return memory


def _reply(out: BinaryIO, code: int, payload: dict[str, Any] | None = None) -> None:
    body = b"" if payload is None else json.dumps(payload).encode()
    try:
        out.write(REPLY.pack(code, len(body)) + body)
        out.flush()
    except (BrokenPipeError, OSError):
        pass  # the parent is gone; finish the file anyway


def serve(requests: BinaryIO, replies: BinaryIO) -> int:
    settings = json.loads(requests.readline())
    shape = tuple(settings["shape"])
    memory = attach(settings["memory"])
    buffers = np.ndarray((settings["slots"], *shape), np.uint8, buffer=memory.buf)
    try:
        writer = FfV1Writer(Path(settings["path"]), (shape[0], shape[1], shape[2]), settings["fps"])
    except Exception as error:
        problem = f"{type(error).__name__}: {error}"
        _reply(replies, DONE, {"frames_written": 0, "failed": 0, "error": problem})
        del buffers
        memory.close()
        return 1
    _reply(replies, READY, {})
    error_text: str | None = None
    failed = 0
    while True:
        message = requests.read(REQUEST.size)
        if len(message) < REQUEST.size:
            break  # the parent closed the pipe or was killed
        slot, frame_id = REQUEST.unpack(message)
        if slot == STOP:
            break
        if error_text is None:
            try:
                writer.encode(buffers[slot], frame_id)
            except Exception as error:
                error_text = f"{type(error).__name__}: {error}"
        if error_text is not None:
            failed += 1
        _reply(replies, slot)
    try:
        writer.close()
    except Exception as error:
        error_text = error_text or f"{type(error).__name__}: {error}"
    _reply(replies, DONE, {"frames_written": writer.frames_written, "failed": failed, "error": error_text})
    del buffers
    memory.close()
    return 0 if error_text is None else 1


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    sys.exit(serve(sys.stdin.buffer, sys.stdout.buffer))
