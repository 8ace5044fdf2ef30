"""Identity from a top-down ID model's class probabilities: optimal, one name per instance."""

from __future__ import annotations

import numpy as np
import pytest

from rtpose.core.errors import ConfigError
from rtpose.core.types import Poses
from rtpose.identity import ClassIdentity


def _poses(probabilities: list[list[float]], valid: list[bool]) -> Poses:
    poses = Poses.empty(len(valid), 3)
    poses.valid[:] = valid
    poses.class_probs = np.array(probabilities, np.float32)
    return poses


def test_optimal_assignment_beats_greedy() -> None:
    # greedy would give slot 0 to "female" (0.9) and leave "male" the poor slot 1 (0.1):
    # the optimum (0.8 + 0.85) names slot 0 male and slot 1 female
    identity = ClassIdentity(["female", "male"], ["female", "male"])
    poses = _poses([[0.9, 0.8], [0.85, 0.1]], [True, True])
    identity.assign(poses)
    assert poses.identities.tolist() == [1, 0]


def test_animals_follow_the_class_names_not_their_order() -> None:
    identity = ClassIdentity(["male"], ["female", "male", "intruder"])
    poses = _poses([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.0, 0.0, 0.0]], [True, True, False])
    identity.assign(poses)
    assert poses.identities.tolist() == [-1, 0, -1]


def test_fewer_instances_than_animals_and_empty_frames() -> None:
    identity = ClassIdentity(["female", "male"], ["female", "male"])
    poses = _poses([[0.2, 0.8], [0.5, 0.5]], [True, False])
    identity.assign(poses)
    assert poses.identities.tolist() == [1, -1]
    poses = _poses([[0.2, 0.8], [0.5, 0.5]], [False, False])
    identity.assign(poses)
    assert poses.identities.tolist() == [-1, -1]


def test_many_slots_fall_back_to_greedy_without_duplicates() -> None:
    classes = [f"animal{i}" for i in range(8)]
    identity = ClassIdentity(classes, classes)
    rng = np.random.default_rng(0)
    poses = _poses(rng.random((8, 8)).tolist(), [True] * 8)
    identity.assign(poses)
    assert sorted(poses.identities.tolist()) == list(range(8))


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"identity\.method"):
        ClassIdentity(["female"], [])
    with pytest.raises(ConfigError, match=r"identity.animals: \['queen'\]"):
        ClassIdentity(["queen"], ["female", "male"])
