"""Identity: which instance slot is which named animal."""

from typing import Protocol

from rtpose.core.config import IdentityConfig
from rtpose.core.model_metadata import ModelMetadata
from rtpose.core.types import Poses
from rtpose.identity.classes import ClassIdentity
from rtpose.identity.size import SizeIdentity
from rtpose.identity.tracker import TrackerIdentity


class Identity(Protocol):
    def assign(self, poses: Poses) -> None:
        """Write ``poses.identities`` in place (index into the rig's animals, -1 for none)."""


def build_identity(config: IdentityConfig, metadata: ModelMetadata) -> Identity:
    """The identity stage a rig config asks for, checked against the model (ConfigError if unfit)."""
    if config.method == "classes":
        return ClassIdentity(config.animals, list(metadata.class_names))
    if config.method == "tracker":
        return TrackerIdentity(config.animals, list(metadata.node_names), config.length_nodes, config.tracker)
    return SizeIdentity(config.animals, list(metadata.node_names), config.length_nodes)


__all__ = ["ClassIdentity", "Identity", "SizeIdentity", "TrackerIdentity", "build_identity"]
