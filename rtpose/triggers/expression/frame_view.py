"""The per-frame state the compiled closures read: the frame's points and scores and which slot
each animal is in. One instance per rule, reused every frame.
Values are read with ``ndarray.item`` (a Python float, no temporary array)."""

from __future__ import annotations

import math

import numpy as np

from rtpose.core.types import Poses


class FrameView:
    __slots__ = ("points", "scores", "slot_of_animal", "t_ns")

    def __init__(self, num_animals: int) -> None:
        self.points = np.full((0, 0, 2), np.nan, np.float32)
        self.scores = np.zeros((0, 0), np.float32)
        self.slot_of_animal = [-1] * num_animals
        self.t_ns = 0

    def load(self, poses: Poses, t_ns: int) -> None:
        """Point at this frame's arrays (not copied: valid until the caller reuses ``poses``)."""
        self.points, self.scores, self.t_ns = poses.points, poses.point_scores, t_ns
        slots = self.slot_of_animal
        for animal in range(len(slots)):
            slots[animal] = -1
        identities, valid = poses.identities, poses.valid
        count = len(slots)
        for slot in range(len(identities)):
            animal = int(identities.item(slot))
            if 0 <= animal < count and valid.item(slot):
                slots[animal] = slot

    def x(self, animal: int, node: int) -> float:
        slot = self.slot_of_animal[animal]
        return math.nan if slot < 0 else float(self.points.item(slot, node, 0))

    def y(self, animal: int, node: int) -> float:
        slot = self.slot_of_animal[animal]
        return math.nan if slot < 0 else float(self.points.item(slot, node, 1))

    def score(self, animal: int, node: int) -> float:
        slot = self.slot_of_animal[animal]
        return 0.0 if slot < 0 else float(self.scores.item(slot, node))
