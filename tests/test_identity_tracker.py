"""The online tracker: names survive crossings and similar sizes where per-frame ranking swaps
them, jumps beyond the limit are not followed, and lost tracks are named afresh."""

from __future__ import annotations

import math

import numpy as np

from rtpose.camera.fly_scene import NODE_NAMES, fly_nodes
from rtpose.core.rules_config import TrackerConfig
from rtpose.core.types import Poses
from rtpose.identity import SizeIdentity, TrackerIdentity

ANIMALS = ["female", "male"]
LENGTH_NODES = ("head", "thorax", "abdomen")


def _crossing(frame: int, rng: np.random.Generator) -> tuple[Poses, list[int]]:
    """Two flies of nearly the same size walking past each other (A left→right, B right→left,
    12 px apart across the path), in slots shuffled every frame; returns the slot of A and B."""
    x_a, x_b = 40.0 + 4.0 * frame, 200.0 - 4.0 * frame
    flies = [
        fly_nodes((x_a, 120.0), 0.0, 40.0 * (1 + 0.02 * rng.standard_normal())),
        fly_nodes((x_b, 132.0), math.pi, 40.0 * (1 + 0.02 * rng.standard_normal())),
    ]
    order = rng.permutation(2).tolist()
    poses = Poses.empty(2, len(NODE_NAMES))
    for slot, animal in enumerate(order):
        poses.points[slot] = flies[animal] + rng.normal(0.0, 0.3, (len(NODE_NAMES), 2))
        poses.valid[slot] = True
    return poses, [order.index(0), order.index(1)]


def _names_of_a_and_b(
    identity: TrackerIdentity | SizeIdentity, frames: int, seed: int
) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    names = []
    for frame in range(frames):
        poses, (slot_a, slot_b) = _crossing(frame, rng)
        identity.assign(poses)
        names.append((int(poses.identities[slot_a]), int(poses.identities[slot_b])))
    return names


def test_tracker_keeps_names_through_a_crossing_where_size_ranking_swaps() -> None:
    tracker = TrackerIdentity(ANIMALS, list(NODE_NAMES), LENGTH_NODES, TrackerConfig(initial="order"))
    tracked = _names_of_a_and_b(tracker, 40, seed=1)
    assert len(set(tracked)) == 1 and -1 not in tracked[0]

    ranked = _names_of_a_and_b(SizeIdentity(ANIMALS, list(NODE_NAMES), LENGTH_NODES), 40, seed=1)
    assert len(set(ranked)) > 1, "per-frame size ranking never swapped: the test proves nothing"


def test_initial_names_by_size_then_kept_when_sizes_swap() -> None:
    tracker = TrackerIdentity(ANIMALS, list(NODE_NAMES), LENGTH_NODES, TrackerConfig(initial="size"))
    for frame in range(20):
        # the larger fly (the female) shrinks and the male grows (e.g. tilting): ranking would swap
        female = fly_nodes((60.0 + frame, 100.0), 0.0, 44.0 - frame)
        male = fly_nodes((160.0 - frame, 100.0), math.pi, 34.0 + frame)
        poses = Poses.empty(2, len(NODE_NAMES))
        poses.points[:] = [male, female] if frame % 2 else [female, male]
        poses.valid[:] = True
        tracker.assign(poses)
        expected = [1, 0] if frame % 2 else [0, 1]
        assert poses.identities.tolist() == expected, f"frame {frame}"


def test_jump_limit_and_missing_frames() -> None:
    config = TrackerConfig(max_jump_px=20.0, max_missing_frames=2, initial="order")
    tracker = TrackerIdentity(["fly"], list(NODE_NAMES), LENGTH_NODES, config)

    def frame(x: float) -> Poses:
        poses = Poses.empty(1, len(NODE_NAMES))
        poses.points[0] = fly_nodes((x, 100.0), 0.0, 40.0)
        poses.valid[0] = True
        tracker.assign(poses)
        return poses

    assert frame(50.0).identities.tolist() == [0]
    assert frame(55.0).identities.tolist() == [0]
    # a jump of 100 px is not this fly: unnamed while the track waits (2 frames)
    assert frame(155.0).identities.tolist() == [-1]
    assert frame(155.0).identities.tolist() == [-1]
    # the track is dropped after more than max_missing_frames misses: the instance is named afresh
    assert frame(155.0).identities.tolist() == [0]


def test_size_start_waits_until_every_animal_is_seen() -> None:
    tracker = TrackerIdentity(ANIMALS, list(NODE_NAMES), LENGTH_NODES, TrackerConfig(initial="size"))
    poses = Poses.empty(2, len(NODE_NAMES))
    poses.points[0] = fly_nodes((60.0, 100.0), 0.0, 34.0)
    poses.valid[0] = True
    tracker.assign(poses)
    assert poses.identities.tolist() == [-1, -1]  # one fly alone: female or male cannot be told
    poses.points[1] = fly_nodes((160.0, 100.0), 0.0, 44.0)
    poses.valid[1] = True
    tracker.assign(poses)
    assert poses.identities.tolist() == [1, 0]
