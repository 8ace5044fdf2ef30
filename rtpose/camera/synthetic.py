"""The synthetic camera: renders the two-fly scene (``fly_scene``) with known poses.

It behaves like a free-running camera with a one-frame buffer: frame ``n`` exists at
``start + n / fps`` on the process clock; ``grab_into`` returns the newest frame that exists and
waits for the next one when the newest was already taken. A grab thread that falls behind sees
frame-id gaps, as with a real camera. With ``realtime=False`` it renders frames back to back,
every id in order (replay and benchmarks). Its camera timestamp is the frame's nominal exposure
time on the process clock, so latency from "exposure" can be measured.

Ground truth: ``scene.poses_at_frame(frame_id)``.
"""

from __future__ import annotations

import time

from rtpose.camera.fly_scene import FlyScene
from rtpose.core.clock import now_ns
from rtpose.core.config import SyntheticCameraConfig
from rtpose.core.errors import CameraError
from rtpose.core.types import ImageArray


class SyntheticCamera:
    def __init__(self, config: SyntheticCameraConfig, realtime: bool = True) -> None:
        height, width = config.frame_size
        self.frame_shape = (height, width, 1)
        self.nominal_fps: float | None = config.fps
        self.realtime = realtime
        self.scene = FlyScene(
            (height, width),
            seed=config.seed,
            fps=config.fps,
            approach_period_s=config.approach_period_s,
            approach_duration_s=config.approach_duration_s,
        )
        self._period_ns = round(1e9 / config.fps)
        self._start_ns = 0
        self._next_id = 0
        self._running = False
        self.frames_produced = 0
        """Frames that existed since start (ids 0..newest), whether or not they were grabbed."""

    def start(self) -> None:
        self._start_ns = now_ns()
        self._next_id = 0
        self.frames_produced = 0
        self._running = True

    def grab_into(self, out: ImageArray, timeout_s: float) -> tuple[int, int | None]:
        if not self._running:
            raise CameraError("synthetic camera: grab_into called before start()")
        if out.shape != self.frame_shape:
            raise CameraError(f"synthetic camera: buffer shape {out.shape} != frame shape {self.frame_shape}")
        if self.realtime:
            frame_id = max(self._next_id, (now_ns() - self._start_ns) // self._period_ns)
            due_ns = self._start_ns + frame_id * self._period_ns
            wait_s = (due_ns - now_ns()) / 1e9
            if wait_s > timeout_s:
                raise CameraError(f"synthetic camera: no frame within {timeout_s} s")
            if wait_s > 0:
                time.sleep(wait_s)
        else:
            frame_id = self._next_id
            due_ns = self._start_ns + frame_id * self._period_ns
        self.scene.render_frame(frame_id, out)
        self._next_id = frame_id + 1
        self.frames_produced = self._next_id
        return frame_id, due_ns

    def exposure_schedule(self) -> tuple[int, int] | None:
        """(frame 0's exposure start on the process clock, frame period in ns) while running in
        real time, else None: the sim DAQ derives the camera's exposure signal from it."""
        if not (self._running and self.realtime):
            return None
        return self._start_ns, self._period_ns

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        self._running = False
