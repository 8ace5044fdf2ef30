"""Identity by body size: the demo's way to tell the (larger) female from the (smaller) male.

Body size is the summed length of the segments through ``length_nodes`` (head → thorax →
abdomen by default). Valid instances are ranked by size, largest first, and take the animal
names in config order. It is stateless, so it cannot drift, and it needs no ID model. It cannot
tell animals of similar size apart, and it assigns nothing in a frame where an animal is missing
or one of its length nodes was not found.
A tracker or a top-down ID model replaces it where sizes do not differ (a later issue).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from rtpose.core.errors import ConfigError
from rtpose.core.types import NO_IDENTITY, Poses


class SizeIdentity:
    def __init__(self, animals: list[str], node_names: list[str], length_nodes: tuple[str, ...]) -> None:
        missing = [name for name in length_nodes if name not in node_names]
        if missing:
            raise ConfigError(
                f"identity.length_nodes: {missing} are not nodes of the model (nodes: {node_names})"
            )
        self.animals = list(animals)
        self._segments = list(itertools.pairwise(node_names.index(name) for name in length_nodes))

    def _body_length_px(self, points: np.ndarray, slot: int) -> float:
        """Summed segment length of one slot (NaN if a node is missing); scalar math, no arrays."""
        total = 0.0
        for a, b in self._segments:
            ax, ay = points[slot, a]
            bx, by = points[slot, b]
            total += math.hypot(ax - bx, ay - by)
        return total

    def assign(self, poses: Poses) -> None:
        """Write ``poses.identities`` in place: the i-th largest valid instance is animal i.

        Ranking only means something when every animal is seen and measurable: with fewer
        measurable instances than animals, or a valid instance that cannot be measured, no slot
        gets an identity in that frame (rules on named animals are then false, never wrong).
        """
        # Per-frame path on K (a few) slots: plain floats, no temporary arrays (this runs right
        # after inference, with cold caches, where every small NumPy call costs tens of µs).
        identities = poses.identities
        identities.fill(NO_IDENTITY)
        points, valid = poses.points, poses.valid
        ranked: list[tuple[float, int]] = []
        for slot in range(len(valid)):
            if not valid[slot]:
                continue
            length = self._body_length_px(points, slot)
            if length != length:  # NaN: a valid instance that cannot be measured
                return
            ranked.append((-length, slot))
        if len(ranked) < len(self.animals):
            return
        ranked.sort()
        for identity, (_, slot) in enumerate(ranked[: len(self.animals)]):
            identities[slot] = identity
