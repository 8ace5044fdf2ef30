"""Identity by body size: the demo's way to tell the (larger) female from the (smaller) male.

Body size is the summed length of the segments through ``length_nodes`` (head → thorax →
abdomen by default). Valid instances are ranked by size, largest first, and take the animal
names in config order. It is stateless, so it cannot drift, and it needs no ID model; it fails
when the animals are of similar size or a node is missing (that instance then ranks last).
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
        """Write ``poses.identities`` in place: the i-th largest valid instance is animal i."""
        lengths = self.body_lengths_px(poses)
        order = np.argsort(-lengths, kind="stable")
        poses.identities.fill(NO_IDENTITY)
        for identity, slot in enumerate(order[: len(self.animals)]):
            if poses.valid[slot]:
                poses.identities[slot] = identity
