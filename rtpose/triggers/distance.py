"""The first rule: the distance between two named points is below a threshold (e.g. the male's
head near the female's abdomen), held for a minimum duration."""

from __future__ import annotations

import math

from rtpose.core.config import DistanceRuleConfig
from rtpose.core.errors import ConfigError
from rtpose.core.types import Poses
from rtpose.triggers.timing import HoldTimer


def _resolve_point(spec: str, field: str, animals: list[str], node_names: list[str]) -> tuple[int, int]:
    animal, node = spec.split(".", 1)
    if animal not in animals:
        raise ConfigError(f"{field}: animal {animal!r} is not in identity.animals {animals}")
    if node not in node_names:
        raise ConfigError(f"{field}: node {node!r} is not a node of the model (nodes: {node_names})")
    return animals.index(animal), node_names.index(node)


class DistanceBelowRule:
    """Active while |from_point − to_point| < max_distance_px has held for min_duration_ms.

    A missing animal or node makes the condition false (never true by accident).
    """

    def __init__(self, config: DistanceRuleConfig, animals: list[str], node_names: list[str], index: int = 0):
        self.name = config.name
        self.config = config
        self._from = _resolve_point(config.from_point, f"rules.{index}.from_point", animals, node_names)
        self._to = _resolve_point(config.to_point, f"rules.{index}.to_point", animals, node_names)
        self._timer = HoldTimer(config.min_duration_ms, config.release_ms)
        self.last_distance_px = math.nan

    @staticmethod
    def _slot_of(poses: Poses, animal: int) -> int:
        identities = poses.identities
        for slot in range(len(identities)):
            if identities[slot] == animal:
                return slot
        return -1

    def update(self, poses: Poses, t_ns: int) -> bool:
        from_slot = self._slot_of(poses, self._from[0])
        to_slot = self._slot_of(poses, self._to[0])
        distance = math.nan
        if from_slot >= 0 and to_slot >= 0:
            a = poses.points[from_slot, self._from[1]]
            b = poses.points[to_slot, self._to[1]]
            distance = math.hypot(a[0] - b[0], a[1] - b[1])
        self.last_distance_px = distance
        return self._timer.update(distance < self.config.max_distance_px, t_ns)

    @property
    def active(self) -> bool:
        return self._timer.active
