"""Cameras: the Camera protocol and its backends (one file each)."""

from __future__ import annotations

from rtpose.camera.protocol import Camera
from rtpose.core.config import CameraConfig, FramePolicy


def open_camera(config: CameraConfig, frame_policy: FramePolicy = FramePolicy.LATEST) -> Camera:
    """Create the camera a config describes. With ``FramePolicy.EVERY`` the synthetic camera
    renders every frame in order instead of pacing itself in real time."""
    from rtpose.camera.synthetic import SyntheticCamera

    return SyntheticCamera(config, realtime=frame_policy is FramePolicy.LATEST)


__all__ = ["Camera", "open_camera"]
