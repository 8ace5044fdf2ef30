"""Validation of a rig config against the files it names: run by `rtpose check` and before
every run, so that a bad config fails before anything is started or driven."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rtpose.camera import open_camera
from rtpose.core.config import RigConfig, SyntheticCameraConfig
from rtpose.core.errors import ConfigError, ModelPackageError
from rtpose.core.extras import require
from rtpose.core.model_metadata import ModelMetadata, read_metadata
from rtpose.engine import resolve_model_path
from rtpose.identity import build_identity
from rtpose.triggers.rule_set import build_rule_set


@dataclass(frozen=True)
class CheckedConfig:
    config: RigConfig
    model_path: Path
    metadata: ModelMetadata


def check_config(config: RigConfig, config_dir: Path) -> CheckedConfig:
    """Check what the config's schema cannot: the model package, frame size, rule names."""
    model_path = resolve_model_path(config.model.path, config_dir)
    try:
        metadata = read_metadata(model_path)
    except ModelPackageError as error:
        raise ConfigError(f"model.path: {error}") from None
    _check_camera(config, config_dir, metadata)
    if len(config.identity.animals) > metadata.max_instances:
        raise ConfigError(
            f"identity.animals: {len(config.identity.animals)} animals but the model finds at most "
            f"{metadata.max_instances} instances; re-export with a larger --max-instances"
        )
    build_identity(config.identity, metadata)
    build_rule_set(config, metadata.node_names, config_dir)
    if config.record.video:
        require("av", "video", "Video recording (record.video)")
    return CheckedConfig(config, model_path, metadata)


def _check_camera(config: RigConfig, config_dir: Path, metadata: ModelMetadata) -> None:
    """The synthetic camera is checked from its config; a Basler camera or a video is opened (and
    closed), since only the device or the file knows whether the settings hold."""
    camera_config = config.camera
    expected = (metadata.input.height, metadata.input.width)
    if isinstance(camera_config, SyntheticCameraConfig):
        height, width = camera_config.frame_size
        if (height, width) != expected:
            raise ConfigError(
                f"camera.frame_size: the camera gives {height}×{width} frames but the model "
                f"{metadata.name!r} takes {expected[0]}×{expected[1]}; set "
                f"camera.frame_size = [{expected[0]}, {expected[1]}] or export the "
                f"model for this frame size"
            )
        if metadata.input.channels != 1:
            raise ConfigError(
                f"model.path: the model takes {metadata.input.channels}-channel frames but the synthetic "
                f"camera gives grayscale (1 channel)"
            )
        return
    camera = open_camera(camera_config, config.loop.frame_policy, metadata.input.channels, config_dir)
    try:
        height, width, _ = camera.frame_shape
    finally:
        camera.close()
    if (height, width) != expected:
        fix = (
            f"set camera.width = {expected[1]} and camera.height = {expected[0]}"
            if camera_config.backend == "basler"
            else "replay a video of that size"
        )
        raise ConfigError(
            f"camera: the {camera_config.backend} camera gives {height}×{width} frames but the model "
            f"{metadata.name!r} takes {expected[0]}×{expected[1]}; {fix} or export the model for "
            f"this frame size"
        )
