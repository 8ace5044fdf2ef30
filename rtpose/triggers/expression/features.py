"""The feature functions of the rule language, as closures over resolved indices.

Numbers are floats in internal units (px, deg, px/s); NaN means "not measurable in this frame"
(an animal without an identity, a node not found). Conditions are ``True``, ``False`` or
``None`` (unknown), see ``compiler``. Angles follow image coordinates (x right, y down), so a
positive angle is clockwise on screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rtpose.triggers.expression.environment import Roi
from rtpose.triggers.expression.frame_view import FrameView

NumberFn = Callable[[FrameView], float]
TruthFn = Callable[[FrameView], "bool | None"]


def distance(animal_a: int, node_a: int, animal_b: int, node_b: int) -> NumberFn:
    def evaluate(view: FrameView) -> float:
        return math.hypot(
            view.x(animal_a, node_a) - view.x(animal_b, node_b),
            view.y(animal_a, node_a) - view.y(animal_b, node_b),
        )

    return evaluate


def heading(animal: int, from_node: int, to_node: int) -> NumberFn:
    """Direction from ``from_node`` to ``to_node``, degrees in (−180, 180], 0 = +x."""

    def evaluate(view: FrameView) -> float:
        return _degrees(
            math.atan2(
                view.y(animal, to_node) - view.y(animal, from_node),
                view.x(animal, to_node) - view.x(animal, from_node),
            )
        )

    return evaluate


def relative_angle(animal_a: int, animal_b: int, from_node: int, to_node: int) -> NumberFn:
    """Direction from a to b (``from_node`` to ``from_node``) relative to a's heading, (−180, 180]:
    0 = b straight ahead of a, ±180 = straight behind."""

    def evaluate(view: FrameView) -> float:
        origin_x, origin_y = view.x(animal_a, from_node), view.y(animal_a, from_node)
        heading_x = view.x(animal_a, to_node) - origin_x
        heading_y = view.y(animal_a, to_node) - origin_y
        towards_x = view.x(animal_b, from_node) - origin_x
        towards_y = view.y(animal_b, from_node) - origin_y
        return _degrees(
            math.atan2(
                heading_x * towards_y - heading_y * towards_x,
                heading_x * towards_x + heading_y * towards_y,
            )
        )

    return evaluate


def _degrees(radians: float) -> float:
    degrees = math.degrees(radians)
    return 180.0 if degrees == -180.0 else degrees


class Speed:
    """Speed of one point between consecutive processed frames (px/s, from frame timestamps).

    Stateful: ``advance`` must run on every frame (the compiled condition calls it before
    evaluating, whatever short-circuiting skips), so the previous position is always the last frame's.
    """

    __slots__ = ("_animal", "_node", "_previous_ns", "_previous_x", "_previous_y", "value")

    def __init__(self, animal: int, node: int) -> None:
        self._animal, self._node = animal, node
        self._previous_x = self._previous_y = math.nan
        self._previous_ns = 0
        self.value = math.nan

    def advance(self, view: FrameView) -> None:
        x, y, t_ns = view.x(self._animal, self._node), view.y(self._animal, self._node), view.t_ns
        elapsed_ns = t_ns - self._previous_ns
        if elapsed_ns > 0:
            self.value = math.hypot(x - self._previous_x, y - self._previous_y) * 1e9 / elapsed_ns
        else:
            self.value = math.nan
        self._previous_x, self._previous_y, self._previous_ns = x, y, t_ns

    def evaluate(self, view: FrameView) -> float:
        return self.value


def inside(animal: int, node: int, roi: Roi) -> TruthFn:
    def evaluate(view: FrameView) -> bool | None:
        x, y = view.x(animal, node), view.y(animal, node)
        if x != x or y != y:  # NaN
            return None
        return roi.contains(x, y)

    return evaluate


def visible(animal: int, node: int) -> TruthFn:
    """Never unknown: a point that is not there is not visible."""

    def evaluate(view: FrameView) -> bool | None:
        x = view.x(animal, node)
        return x == x

    return evaluate


def score(animal: int, node: int) -> NumberFn:
    """Confidence of the point (0 when the animal or the node is missing): never NaN."""

    def evaluate(view: FrameView) -> float:
        return view.score(animal, node)

    return evaluate
