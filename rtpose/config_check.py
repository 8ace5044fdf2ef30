"""Validation of a rig config against the files it names: run by `rtpose check` and before
every run, so that a bad config fails before anything is started or driven."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rtpose.core.config import RigConfig
from rtpose.core.errors import ConfigError, ModelPackageError
from rtpose.core.model_metadata import ModelMetadata, read_metadata
from rtpose.engine import resolve_model_path
from rtpose.identity import SizeIdentity
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
    height, width = config.camera.frame_size
    if (height, width) != (metadata.input.height, metadata.input.width):
        raise ConfigError(
            f"camera.frame_size: the camera gives {height}×{width} frames but the model "
            f"{metadata.name!r} takes {metadata.input.height}×{metadata.input.width}; set "
            f"camera.frame_size = [{metadata.input.height}, {metadata.input.width}] or export the "
            f"model for this frame size"
        )
    if metadata.input.channels != 1:
        raise ConfigError(
            f"model.path: the model takes {metadata.input.channels}-channel frames but the synthetic "
            f"camera gives grayscale (1 channel)"
        )
    if len(config.identity.animals) > metadata.max_instances:
        raise ConfigError(
            f"identity.animals: {len(config.identity.animals)} animals but the model finds at most "
            f"{metadata.max_instances} instances; re-export with a larger --max-instances"
        )
    SizeIdentity(config.identity.animals, metadata.node_names, config.identity.length_nodes)
    build_rule_set(config, metadata.node_names)
    return CheckedConfig(config, model_path, metadata)
