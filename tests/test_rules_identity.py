"""Identity by size and the distance rule with its timing."""

from __future__ import annotations

import numpy as np

from rtpose.camera.fly_scene import NODE_NAMES, FlyScene
from rtpose.core.config import DistanceRuleConfig
from rtpose.core.types import Poses
from rtpose.identity import SizeIdentity
from rtpose.triggers import DistanceBelowRule
from rtpose.triggers.rule_set import RuleSet

ANIMALS = ["female", "male"]
MS = 1_000_000


def _poses_from_truth(truth: np.ndarray, order: tuple[int, ...] = (0, 1)) -> Poses:
    poses = Poses.empty(len(order), len(NODE_NAMES))
    for slot, animal in enumerate(order):
        poses.points[slot] = truth[animal]
        poses.valid[slot] = True
    return poses


def test_size_identity_finds_female_and_male_in_any_slot_order() -> None:
    identity = SizeIdentity(ANIMALS, list(NODE_NAMES), ("head", "thorax", "abdomen"))
    truth = FlyScene(seed=2).poses_at_frame(100)
    for order in ((0, 1), (1, 0)):
        poses = _poses_from_truth(truth, order)
        identity.assign(poses)
        assert [ANIMALS[i] for i in poses.identities] == [ANIMALS[a] for a in order]


def test_size_identity_assigns_nothing_when_an_animal_cannot_be_sized() -> None:
    identity = SizeIdentity(ANIMALS, list(NODE_NAMES), ("head", "thorax", "abdomen"))
    truth = FlyScene(seed=2).poses_at_frame(10)
    poses = _poses_from_truth(truth)
    poses.valid[1] = False  # only one fly found: which one it is cannot be told by ranking
    identity.assign(poses)
    assert poses.identities.tolist() == [-1, -1]
    poses = _poses_from_truth(truth)
    poses.points[0, 0] = np.nan  # the female's head is missing: she cannot be sized
    identity.assign(poses)
    assert poses.identities.tolist() == [-1, -1]


def _rule(min_ms: float = 100.0, release_ms: float = 50.0) -> DistanceBelowRule:
    config = DistanceRuleConfig(
        name="approach",
        from_point="male.head",
        to_point="female.abdomen",
        max_distance_px=10.0,
        min_duration_ms=min_ms,
        release_ms=release_ms,
    )
    return DistanceBelowRule(config, ANIMALS, list(NODE_NAMES))


def _two_flies(distance: float) -> Poses:
    poses = Poses.empty(2, len(NODE_NAMES))
    poses.valid[:] = True
    poses.identities[:] = [0, 1]
    poses.points[0, NODE_NAMES.index("abdomen")] = (100.0, 100.0)
    poses.points[1, NODE_NAMES.index("head")] = (100.0 + distance, 100.0)
    return poses


def test_distance_rule_needs_min_duration_and_release() -> None:
    rule = _rule(min_ms=100.0, release_ms=50.0)
    states = []
    # close from 0 ms to 300 ms, far afterwards; frames every 10 ms
    for t_ms in range(0, 500, 10):
        states.append(rule.update(_two_flies(5.0 if t_ms < 300 else 30.0), t_ms * MS))
    onset = states.index(True) * 10
    offset = (len(states) - states[::-1].index(True)) * 10
    assert onset == 100
    assert offset == 350


def test_distance_rule_false_when_an_animal_is_missing() -> None:
    rule = _rule(min_ms=0.0)
    poses = _two_flies(1.0)
    poses.identities[:] = [0, -1]
    assert rule.update(poses, 0) is False


def test_rule_set_events_and_outputs() -> None:
    rule_set = RuleSet([_rule(min_ms=0.0, release_ms=0.0)], [0], num_outputs=1)
    rule_set.update(_two_flies(5.0), 0, frame_id=0)
    assert rule_set.desired_on.tolist() == [True]
    rule_set.update(_two_flies(50.0), 10 * MS, frame_id=1)
    assert rule_set.desired_on.tolist() == [False]
    events = rule_set.drain_events()
    assert [(e.kind, e.name, e.frame_id, e.value) for e in events] == [
        ("rule", "approach", 0, 1.0),
        ("rule", "approach", 1, 0.0),
    ]
