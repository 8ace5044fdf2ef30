"""Identity by body size: the demo's way to tell the (larger) female from the (smaller) male.

Body size is the summed length of the segments through ``length_nodes`` (head → thorax →
abdomen by default). Valid instances are ranked by size, largest first, and take the animal
names in config order. It is stateless, so it cannot drift, and it needs no ID model. It cannot
tell animals of similar size apart, and it assigns nothing in a frame where an animal is missing
or one of its length nodes was not found.
A tracker or a top-down ID model replaces it where sizes do not differ (a later issue).
"""

from __future__ import annotations

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
        self._node_indices = np.array([node_names.index(name) for name in length_nodes])

    def body_lengths_px(self, poses: Poses) -> np.ndarray:
        """Summed segment length per slot; -inf for empty slots or missing nodes."""
        chain = poses.points[:, self._node_indices]  # K×L×2
        lengths: np.ndarray = np.sqrt(np.square(np.diff(chain, axis=1)).sum(axis=2)).sum(axis=1)
        lengths[~poses.valid | np.isnan(lengths)] = -np.inf
        return lengths

    def assign(self, poses: Poses) -> None:
        """Write ``poses.identities`` in place: the i-th largest valid instance is animal i.

        Ranking only means something when every animal is seen and measurable: with fewer
        measurable instances than animals, or a valid instance that cannot be measured, no slot
        gets an identity in that frame (rules on named animals are then false, never wrong).
        """
        poses.identities.fill(NO_IDENTITY)
        lengths = self.body_lengths_px(poses)
        measurable = int(np.isfinite(lengths).sum())
        if measurable < len(self.animals) or measurable < int(poses.valid.sum()):
            return
        order = np.argsort(-lengths, kind="stable")
        for identity, slot in enumerate(order[: len(self.animals)]):
            poses.identities[slot] = identity
