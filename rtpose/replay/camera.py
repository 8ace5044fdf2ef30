"""A recorded video as the camera of a replay: the frames the live run processed, with their
recorded frame ids and times.

Rule timing (hold, release, refractory, speeds) runs on frame times, so a replay must give each
frame the time the live run gave it and process exactly the frames the live run processed: under
the ``latest`` policy the live loop skipped frames, and the video (which holds every grabbed
frame) has frames the record does not. ``ReplayCamera`` reads the video in order (as fast as the
loop takes frames, policy ``every``), maps each video frame to its camera frame id (the video's
sidecar; without one, the video frame index is the id, as for a live run that itself replayed a
video file), and delivers only the frames in ``schedule`` (frame id → the rule time the live run
used), with that time as the camera timestamp. Without a schedule (replay of a config, no live
run to match) it delivers every frame with the video's own times.
"""

from __future__ import annotations

import numpy as np

from rtpose.camera.video import VideoCamera
from rtpose.core.errors import CameraError, EndOfStream
from rtpose.core.types import ImageArray


class ReplayCamera:
    def __init__(
        self,
        video: VideoCamera,
        video_frame_ids: np.ndarray | None,
        schedule: dict[int, int] | None,
    ) -> None:
        self._video = video
        self._ids = None if video_frame_ids is None else [int(i) for i in video_frame_ids]
        self._schedule = schedule
        self.frame_shape = video.frame_shape
        self.nominal_fps = video.nominal_fps
        self.frames_delivered: list[int] = []
        """Frame ids delivered, in order."""
        self.frames_skipped = 0
        """Video frames not in the schedule (frames the live loop skipped)."""
        self.frames_produced = 0

    def start(self) -> None:
        self._video.start()
        self.frames_delivered.clear()
        self.frames_skipped = 0

    def grab_into(self, out: ImageArray, timeout_s: float) -> tuple[int, int | None]:
        while True:
            index, video_time_ns = self._video.grab_into(out, timeout_s)
            if self._ids is not None and index >= len(self._ids):
                raise EndOfStream(
                    f"video {self._video.path}: frame {index} has no frame id in its sidecar (a video "
                    "cut short by a killed run ends here)"
                )
            frame_id = index if self._ids is None else self._ids[index]
            if self._schedule is None:  # the video's own times (VideoCamera always has them)
                return self._deliver(frame_id, video_time_ns or 0)
            time_ns = self._schedule.get(frame_id)
            if time_ns is not None:
                return self._deliver(frame_id, time_ns)
            self.frames_skipped += 1

    def _deliver(self, frame_id: int, time_ns: int) -> tuple[int, int | None]:
        if self.frames_delivered and frame_id <= self.frames_delivered[-1]:
            raise CameraError(
                f"video {self._video.path}: frame ids go back ({self.frames_delivered[-1]} then "
                f"{frame_id}); the video and its sidecar do not belong together"
            )
        self.frames_delivered.append(frame_id)
        self.frames_produced = len(self.frames_delivered)
        return frame_id, time_ns

    def stop(self) -> None:
        self._video.stop()

    def close(self) -> None:
        self._video.close()
