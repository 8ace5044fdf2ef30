"""What a rule expression may name: the rig's animals, the model's nodes, ROIs, the calibration."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol


class Roi(Protocol):
    """A region of interest in frame pixels."""

    def contains(self, x: float, y: float) -> bool: ...


@dataclass(frozen=True)
class CircleRoi:
    center_x: float
    center_y: float
    radius_px: float

    def contains(self, x: float, y: float) -> bool:
        return math.hypot(x - self.center_x, y - self.center_y) <= self.radius_px


@dataclass(frozen=True)
class RectRoi:
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def contains(self, x: float, y: float) -> bool:
        return self.x_min <= x <= self.x_max and self.y_min <= y <= self.y_max


@dataclass(frozen=True)
class PolygonRoi:
    """Even-odd rule; the vertices are in order (either direction), the last joins the first."""

    vertices: tuple[tuple[float, float], ...]

    def contains(self, x: float, y: float) -> bool:
        inside = False
        previous_x, previous_y = self.vertices[-1]
        for vertex_x, vertex_y in self.vertices:
            if (vertex_y > y) != (previous_y > y):
                crossing_x = vertex_x + (y - vertex_y) * (previous_x - vertex_x) / (previous_y - vertex_y)
                if x < crossing_x:
                    inside = not inside
            previous_x, previous_y = vertex_x, vertex_y
        return inside


@dataclass(frozen=True)
class FeatureEnvironment:
    """Names and constants an expression is compiled against.

    ``heading_nodes`` (from, to): an animal's heading is the direction from its ``from`` node to
    its ``to`` node, and its position (for ``angle``) is its ``from`` node.
    """

    animals: tuple[str, ...]
    node_names: tuple[str, ...]
    px_per_mm: float | None = None
    rois: dict[str, Roi] = field(default_factory=dict)
    heading_nodes: tuple[str, str] = ("thorax", "head")
