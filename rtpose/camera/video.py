"""Replay of a video file as a camera, through PyAV (FFmpeg): ``pip install 'rtpose[video]'``.

Reads any container and codec FFmpeg decodes (MP4/H.264, MKV/FFV1, AVI/MJPG, ...); PyAV's wheels
bundle FFmpeg, so nothing else is installed. Only the first video stream is used.

- Frame ids are frame indices in decode order (0, 1, 2, ...); with ``loop = true`` they keep
  increasing across repeats, so ids never go back.
- ``realtime = true`` paces frames at their recorded presentation times; ``false`` delivers them as
  fast as the loop takes them (the grab thread then waits on the ring under ``every``).
- The camera timestamp is the frame's presentation time on the process clock (start of replay +
  pts), in both modes, so rules with durations behave as they did when the video was recorded.
- Conversion: FFmpeg converts to "gray" (1 channel; from YUV it is the luma plane scaled to full
  range) or "rgb24" (3 channels), as the model needs; that conversion and the copy into the loop's
  buffer are two passes over the frame, which decode cost dwarfs.
- The end of the file raises ``EndOfStream`` (a ``CameraError``); the loop treats it as a normal
  end of the run ("completed") after processing the frames already grabbed.
- Decoding uses FFmpeg's frame threads ("AUTO"): a few frames of decode latency, which replay does
  not care about.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.core.clock import now_ns
from rtpose.core.config import VideoCameraConfig
from rtpose.core.errors import CameraError, ConfigError, EndOfStream
from rtpose.core.extras import require
from rtpose.core.types import ImageArray

_FORMATS = {1: "gray", 3: "rgb24"}


class VideoCamera:
    """A video file as a Camera (see the module docstring)."""

    def __init__(self, config: VideoCameraConfig, channels: int = 1, config_dir: Path = Path(".")) -> None:
        av = require("av", "video", "The video camera backend")
        if channels not in _FORMATS:
            raise ConfigError(f"model: video replay gives 1 or 3 channels, not {channels}")
        self.path = (config_dir / config.path).resolve()
        if not self.path.is_file():
            raise ConfigError(f"camera.path: video file {self.path} does not exist")
        self.realtime = config.realtime
        self.loop = config.loop
        self._format = _FORMATS[channels]
        self._av = av
        self._container: Any = None
        try:
            self._container = av.open(str(self.path))
            stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError) as error:
            self.close()
            raise ConfigError(f"camera.path: {self.path} is not a readable video: {error}") from None
        stream.thread_type = "AUTO"
        self._stream = stream
        self.frame_shape = (stream.codec_context.height, stream.codec_context.width, channels)
        rate = stream.average_rate or stream.guessed_rate
        self.nominal_fps: float | None = float(rate) if rate else None
        self._frames: Iterator[Any] | None = None
        self._start_ns = 0
        self._next_id = 0
        self._loop_offset_s = 0.0
        self._last_time_s = 0.0
        self.frames_produced = 0
        """Frames decoded since start (every decoded frame is delivered: none are skipped)."""

    def start(self) -> None:
        if self._container is None:
            raise CameraError(f"video {self.path}: start() after close()")
        self._rewind()
        self._start_ns = now_ns()
        self._next_id = 0
        self._loop_offset_s = 0.0
        self.frames_produced = 0

    def grab_into(self, out: ImageArray, timeout_s: float) -> tuple[int, int | None]:
        if self._frames is None:
            raise CameraError(f"video {self.path}: grab_into called before start()")
        if out.shape != self.frame_shape:
            raise CameraError(
                f"video {self.path}: buffer shape {out.shape} != frame shape {self.frame_shape}"
            )
        frame = self._next_frame()
        frame_time_s = self._loop_offset_s + self._presentation_s(frame)
        self._last_time_s = frame_time_s
        due_ns = self._start_ns + round(frame_time_s * 1e9)
        if self.realtime:
            wait_s = (due_ns - now_ns()) / 1e9
            if wait_s > timeout_s:
                raise CameraError(
                    f"video {self.path}: no frame within {timeout_s} s (next in {wait_s:.3f} s)"
                )
            if wait_s > 0:
                time.sleep(wait_s)
        image = frame.to_ndarray(format=self._format)
        np.copyto(out, image.reshape(self.frame_shape))
        frame_id = self._next_id
        self._next_id += 1
        self.frames_produced = self._next_id
        return frame_id, due_ns

    def _next_frame(self) -> Any:
        assert self._frames is not None
        try:
            return next(self._frames)
        except StopIteration:
            pass
        except self._av.FFmpegError as error:
            raise CameraError(f"video {self.path}: decoding failed: {error}") from error
        if not self.loop or self._next_id == 0:
            raise EndOfStream(f"video {self.path}: end of file after {self._next_id} frames")
        period_s = 1.0 / self.nominal_fps if self.nominal_fps else 0.0
        self._loop_offset_s = self._last_time_s + period_s
        self._rewind()
        return self._next_frame()

    def _rewind(self) -> None:
        self._container.seek(0, stream=self._stream)
        self._frames = self._container.decode(self._stream)

    def _presentation_s(self, frame: Any) -> float:
        if frame.pts is None or frame.time_base is None:
            return (self._next_id / self.nominal_fps) if self.nominal_fps else 0.0
        start = self._stream.start_time or 0
        return float((frame.pts - start) * frame.time_base)

    def stop(self) -> None:
        self._frames = None

    def close(self) -> None:
        self._frames = None
        if self._container is not None:
            container, self._container = self._container, None
            container.close()
