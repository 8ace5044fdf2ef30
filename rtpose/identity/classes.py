"""Identity from a top-down ID model's class probabilities (sleap-nn multi-class top-down).

Each frame, the valid instances are matched to the rig's animals (which must be class names of
the model) by the assignment that maximises the summed class probability, so an animal named
``male`` is always the instance the model thinks most likely to be the male, and two instances
never get the same name. The assignment is exhaustive (optimal) while the number of candidate
assignments is small (K ≤ 6 covers every rig we know of: at most 720 candidates); above that it
falls back to greedy (highest probability first), which is documented, not silent.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from rtpose.core.errors import ConfigError, EngineError
from rtpose.core.types import NO_IDENTITY, Poses

MAX_EXHAUSTIVE_CANDIDATES = 720


class ClassIdentity:
    def __init__(self, animals: list[str], class_names: list[str]) -> None:
        if not class_names:
            raise ConfigError(
                'identity.method: "classes" needs a top-down ID model (its package lists class_names); '
                'this model has none: use method = "size" or export a multi-class top-down model'
            )
        unknown = [animal for animal in animals if animal not in class_names]
        if unknown:
            raise ConfigError(
                f"identity.animals: {unknown} are not classes of the model (classes: {class_names}); "
                f"name the animals as the model's classes"
            )
        self.animals = list(animals)
        self._class_of_animal = [class_names.index(animal) for animal in animals]

    def assign(self, poses: Poses) -> None:
        """Write ``poses.identities`` in place from ``poses.class_probs`` (K×C)."""
        probabilities = poses.class_probs
        if probabilities is None:
            raise EngineError("the engine returned no class probabilities, but identity uses them")
        poses.identities.fill(NO_IDENTITY)
        slots = [slot for slot in range(len(poses.valid)) if poses.valid[slot]]
        for animal, slot in self._best_pairs(probabilities, slots):
            poses.identities[slot] = animal

    def _probability(self, probabilities: np.ndarray, animal: int, slot: int) -> float:
        return float(probabilities[slot, self._class_of_animal[animal]])

    def _total(self, probabilities: np.ndarray, pairs: list[tuple[int, int]]) -> float:
        return sum(self._probability(probabilities, animal, slot) for animal, slot in pairs)

    def _best_pairs(self, probabilities: np.ndarray, slots: list[int]) -> list[tuple[int, int]]:
        """(animal, slot) pairs of the assignment with the largest summed probability."""
        animals = list(range(len(self.animals)))
        count = min(len(slots), len(animals))
        if count == 0:
            return []
        if math.perm(max(len(slots), len(animals)), count) > MAX_EXHAUSTIVE_CANDIDATES:
            return self._greedy_pairs(probabilities, animals, slots)
        if len(slots) >= len(animals):
            candidates = [
                list(zip(animals, chosen, strict=True)) for chosen in itertools.permutations(slots, count)
            ]
        else:
            candidates = [
                list(zip(chosen, slots, strict=True)) for chosen in itertools.permutations(animals, count)
            ]
        return max(candidates, key=lambda pairs: self._total(probabilities, pairs))

    def _greedy_pairs(
        self, probabilities: np.ndarray, animals: list[int], slots: list[int]
    ) -> list[tuple[int, int]]:
        ranked = sorted(
            ((self._probability(probabilities, a, s), a, s) for a in animals for s in slots), reverse=True
        )
        pairs: list[tuple[int, int]] = []
        used_animals: set[int] = set()
        used_slots: set[int] = set()
        for _, animal, slot in ranked:
            if animal not in used_animals and slot not in used_slots:
                pairs.append((animal, slot))
                used_animals.add(animal)
                used_slots.add(slot)
        return pairs
