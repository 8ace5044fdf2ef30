"""Errors rtpose raises on purpose. Each message names what is wrong and how to fix it."""

from __future__ import annotations


class RtposeError(Exception):
    """Base class for every error rtpose raises deliberately."""


class ConfigError(RtposeError):
    """A rig config is invalid. The message names the field (e.g. ``camera.fps``) and the fix."""


class ModelPackageError(RtposeError):
    """A model package is missing, incomplete or inconsistent."""


class MissingExtraError(RtposeError, ImportError):
    """An optional dependency is not installed; the message says which extra installs it."""


class CameraError(RtposeError):
    """The camera failed or was lost."""


class EndOfStream(CameraError):
    """A finite source (a video file) has no more frames: the run ends normally, not as an error."""


class EngineError(RtposeError):
    """The inference engine failed on a frame or could not be created."""


class DaqError(RtposeError):
    """The DAQ failed, or could not confirm its safe state."""


class StageError(RtposeError):
    """A pipeline stage raised; wraps the original error with the stage name and frame id."""

    def __init__(self, stage: str, frame_id: int, cause: BaseException) -> None:
        super().__init__(f"{stage} failed on frame {frame_id}: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.frame_id = frame_id
        self.cause = cause
