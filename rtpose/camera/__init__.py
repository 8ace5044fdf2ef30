"""Cameras: the Camera protocol and its backends (one file each)."""

from __future__ import annotations

from pathlib import Path

from rtpose.camera.protocol import Camera
from rtpose.core.config import (
    BaslerCameraConfig,
    CameraConfig,
    FramePolicy,
    SyntheticCameraConfig,
    VideoCameraConfig,
)
from rtpose.core.errors import ConfigError


def open_camera(
    config: CameraConfig,
    frame_policy: FramePolicy = FramePolicy.LATEST,
    channels: int = 1,
    config_dir: Path = Path("."),
) -> Camera:
    """Open the camera a config describes, giving ``channels``-channel frames (the model's).

    With ``FramePolicy.EVERY`` the synthetic camera renders every frame in order instead of
    pacing itself in real time, and a Basler camera grabs one by one. Paths in the config are
    relative to ``config_dir``. Raises ConfigError for settings the camera does not accept and
    CameraError when it cannot be opened; vendor modules are imported only here, when needed.
    """
    if isinstance(config, SyntheticCameraConfig):
        from rtpose.camera.synthetic import SyntheticCamera

        if channels != 1:
            raise ConfigError(
                f"model.path: the model takes {channels}-channel frames but the synthetic camera gives "
                f"grayscale (1 channel)"
            )
        return SyntheticCamera(config, realtime=frame_policy is FramePolicy.LATEST)
    if isinstance(config, BaslerCameraConfig):
        from rtpose.camera.basler import BaslerCamera

        return BaslerCamera(config, frame_policy, channels, config_dir)
    if isinstance(config, VideoCameraConfig):
        from rtpose.camera.video import VideoCamera

        return VideoCamera(config, channels, config_dir)
    raise ConfigError(f"camera.backend: unknown camera backend {config!r}")  # pragma: no cover


__all__ = ["Camera", "open_camera"]
