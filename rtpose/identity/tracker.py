"""Identity without an ID model: a small online tracker that keeps names stable across frames.

Each animal's track remembers its last pose. Every frame, the valid instances are matched to the
live tracks by mean keypoint distance (over the nodes found in both), choosing the assignment
that continues the most tracks at the least total distance; a match further than
``max_jump_px`` is not made. A track unseen for more than ``max_missing_frames`` frames is
dropped and its animal is free again. Free animals are given to unmatched instances either by
size (largest first, in ``animals`` order, and only once every free animal can be ranked, as the
"size" method) or in config order. Unlike per-frame ranking, names survive crossings and animals
of similar size; like any tracker, a long occlusion during a crossing can still swap them.
"""

from __future__ import annotations

import itertools
import math

from rtpose.core.errors import ConfigError
from rtpose.core.rules_config import TrackerConfig
from rtpose.core.types import NO_IDENTITY, Poses

MAX_EXHAUSTIVE_CANDIDATES = 5040


class TrackerIdentity:
    def __init__(
        self, animals: list[str], node_names: list[str], length_nodes: tuple[str, ...], config: TrackerConfig
    ) -> None:
        missing = [name for name in length_nodes if name not in node_names]
        if config.initial == "size" and missing:
            raise ConfigError(
                f"identity.length_nodes: {missing} are not nodes of the model (nodes: {node_names})"
            )
        self.animals = list(animals)
        self.config = config
        self._segments = (
            [] if missing else list(itertools.pairwise(node_names.index(n) for n in length_nodes))
        )
        self._last_points: list[list[list[float]] | None] = [None] * len(animals)
        self._missing_frames = [0] * len(animals)

    def assign(self, poses: Poses) -> None:
        """Write ``poses.identities`` in place (animal index per slot, -1 where none)."""
        identities = poses.identities
        identities.fill(NO_IDENTITY)
        # plain floats (one tolist per frame): a few dozen numbers read many times each
        points: list[list[list[float]]] = poses.points.tolist()
        slots = [slot for slot in range(len(poses.valid)) if poses.valid[slot]]
        tracked = [animal for animal, last in enumerate(self._last_points) if last is not None]
        pairs = self._match(points, tracked, slots)
        for animal, slot in pairs:
            identities[slot] = animal
        matched_animals = {animal for animal, _ in pairs}
        for animal in tracked:
            if animal not in matched_animals:
                self._missing_frames[animal] += 1
                if self._missing_frames[animal] > self.config.max_missing_frames:
                    self._last_points[animal] = None
        matched_slots = {slot for _, slot in pairs}
        self._start_tracks(poses, points, [slot for slot in slots if slot not in matched_slots])
        for slot in range(len(identities)):
            animal = int(identities[slot])
            if animal != NO_IDENTITY:
                self._last_points[animal] = points[slot]
                self._missing_frames[animal] = 0

    def _distance(self, points: list[list[list[float]]], slot: int, animal: int) -> float:
        """Mean distance over the nodes found in both poses (inf if none)."""
        last = self._last_points[animal]
        assert last is not None
        total, count = 0.0, 0
        for (x, y), (last_x, last_y) in zip(points[slot], last, strict=True):
            distance = math.hypot(x - last_x, y - last_y)
            if distance == distance:
                total += distance
                count += 1
        return total / count if count else math.inf

    def _match(
        self, points: list[list[list[float]]], animals: list[int], slots: list[int]
    ) -> list[tuple[int, int]]:
        limit = self.config.max_jump_px
        costs = {
            (animal, slot): cost
            for animal in animals
            for slot in slots
            if (cost := self._distance(points, slot, animal)) <= limit
        }
        if not costs:
            return []
        options: list[list[int | None]] = [[*slots, None] for _ in animals]
        if math.prod(len(option) for option in options) > MAX_EXHAUSTIVE_CANDIDATES:
            return _greedy(costs)
        best: list[tuple[int, int]] = []
        best_key = (0, 0.0)
        for choice in itertools.product(*options):
            chosen = [slot for slot in choice if slot is not None]
            if len(set(chosen)) != len(chosen):
                continue
            pairs = [(animal, slot) for animal, slot in zip(animals, choice, strict=True) if slot is not None]
            if any(pair not in costs for pair in pairs):
                continue
            key = (-len(pairs), sum(costs[pair] for pair in pairs))
            if not best or key < best_key:
                best, best_key = pairs, key
        return best

    def _start_tracks(self, poses: Poses, points: list[list[list[float]]], slots: list[int]) -> None:
        free = [animal for animal, last in enumerate(self._last_points) if last is None]
        if not slots or not free:
            return
        if self.config.initial == "order":
            for animal, slot in zip(free, slots, strict=False):
                poses.identities[slot] = animal
            return
        if len(slots) < len(free):
            return  # ranking by size only means something when every free animal is seen
        sized = [(-self._body_length_px(points[slot]), slot) for slot in slots]
        if any(length != length for length, _ in sized):
            return
        for animal, (_, slot) in zip(free, sorted(sized), strict=False):
            poses.identities[slot] = animal

    def _body_length_px(self, nodes: list[list[float]]) -> float:
        total = 0.0
        for a, b in self._segments:
            total += math.hypot(nodes[a][0] - nodes[b][0], nodes[a][1] - nodes[b][1])
        return total


def _greedy(costs: dict[tuple[int, int], float]) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    used_animals: set[int] = set()
    used_slots: set[int] = set()
    for (animal, slot), _ in sorted(costs.items(), key=lambda item: item[1]):
        if animal not in used_animals and slot not in used_slots:
            pairs.append((animal, slot))
            used_animals.add(animal)
            used_slots.add(slot)
    return pairs
