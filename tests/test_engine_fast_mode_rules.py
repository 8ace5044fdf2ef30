"""Fast mode's rules for when the full graph runs (rtpose/engine/fast_mode.py), on a scripted
backend whose animals, positions and scores each test sets: the cases that matter (a dim
animal, an occluded one, two crops on one animal) are hard to stage on rendered frames.

The scripted backend follows the instance stage's documented behaviour: a crop sees the animal
nearest its centre within half the crop side, or nothing (NaN points, scores 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtpose.core.model_metadata import ModelMetadata, read_metadata
from rtpose.core.types import FloatArray, Poses
from rtpose.engine import DEMO_MODEL_DIR
from rtpose.engine.fast_mode import FastModeEngine
from rtpose.engine.options import FastModeOptions
from rtpose.engine.protocol import InstanceStageResult

METADATA = read_metadata(DEMO_MODEL_DIR)  # K = 2, 5 nodes, anchor "thorax", crop 64 px
ANCHOR = METADATA.node_names.index("thorax")
OFFSETS = np.array([[0, -6], [0, 0], [0, 6], [-4, 1], [4, 1]], np.float32)  # node offsets from the anchor
FRAME = np.zeros(METADATA.frame_shape, np.uint8)


@dataclass
class Animal:
    x: float
    y: float
    score: float = 0.9
    visible: bool = True
    anchor_visible: bool = True

    def pose(self) -> tuple[FloatArray, FloatArray]:
        points = (OFFSETS + np.array([self.x, self.y], np.float32)).astype(np.float32)
        scores = np.full(len(OFFSETS), self.score, np.float32)
        if not self.anchor_visible:
            points[ANCHOR] = np.nan
            scores[ANCHOR] = 0.0
        return points, scores


@dataclass
class ScriptedBackend:
    """An InstanceStageEngine whose scene is ``animals`` (the test moves them between frames)."""

    animals: list[Animal]
    metadata: ModelMetadata = METADATA
    full_runs: int = 0
    instance_runs: int = 0
    closed: bool = field(default=False)

    def infer(self, frame: np.ndarray) -> Poses:
        self.full_runs += 1
        k, j = self.metadata.max_instances, self.metadata.num_nodes
        points = np.full((k, j, 2), np.nan, np.float32)
        scores = np.zeros((k, j), np.float32)
        valid = np.zeros(k, bool)
        for slot, animal in enumerate([a for a in self.animals if a.visible][:k]):
            points[slot], scores[slot] = animal.pose()
            valid[slot] = True
        centroids = np.where(valid[:, None], points[:, ANCHOR], np.nan).astype(np.float32)
        return Poses(points, scores, np.where(valid, 0.9, 0.0).astype(np.float32), valid, centroids)

    def infer_instances(self, frame: np.ndarray, centroids: FloatArray) -> InstanceStageResult:
        self.instance_runs += 1
        k, j = self.metadata.max_instances, self.metadata.num_nodes
        points = np.full((k, j, 2), np.nan, np.float32)
        scores = np.zeros((k, j), np.float32)
        half_crop = (self.metadata.instance.crop_size or 0) / 2
        for slot, centre in enumerate(centroids):
            if not np.isfinite(centre).all():
                continue
            seen = [
                a
                for a in self.animals
                if a.visible and np.hypot(a.x - centre[0], a.y - centre[1]) < half_crop
            ]
            if seen:
                nearest = min(seen, key=lambda a: np.hypot(a.x - centre[0], a.y - centre[1]))
                points[slot], scores[slot] = nearest.pose()
        return InstanceStageResult(points, scores, np.isfinite(centroids).all(axis=1))

    def close(self) -> None:
        self.closed = True


def _fast(backend: ScriptedBackend, refresh: int = 10, min_score: float = 0.3) -> FastModeEngine:
    return FastModeEngine(backend, FastModeOptions(True, refresh, min_score))


def _walk(animals: list[Animal]) -> None:
    for animal in animals:
        animal.x += 0.5


def test_a_persistently_dim_animal_does_not_make_every_frame_full() -> None:
    animals = [Animal(60, 60), Animal(180, 180, score=0.2)]  # below min_instance_score throughout
    backend = ScriptedBackend(animals)
    fast = _fast(backend, refresh=10)
    for _ in range(100):
        fast.infer(FRAME)
        _walk(animals)
    assert backend.full_runs == 10  # the first frame and every 10th: no score-drop reruns
    assert backend.instance_runs == 90
    assert fast.counts == {"full: first frame": 1, "full: periodic refresh": 9, "instance stage only": 90}


def test_a_real_score_drop_still_reruns_the_frame_in_full() -> None:
    animals = [Animal(60, 60), Animal(180, 180, score=0.2)]
    backend = ScriptedBackend(animals)
    fast = _fast(backend, refresh=1000)
    for _ in range(3):
        fast.infer(FRAME)
    animals[1].score = 0.05  # the dim animal fades further: half its last full-frame score is 0.1
    fast.infer(FRAME)
    assert fast.counts["full: score dropped"] == 1
    animals[0].score = 0.25  # the bright one falls below min_instance_score
    fast.infer(FRAME)
    assert fast.counts["full: score dropped"] == 2
    fast.infer(FRAME)
    assert fast.counts["full: score dropped"] == 2 and fast.counts["instance stage only"] == 3


def test_close_crop_centres_run_the_full_graph_without_the_instance_stage() -> None:
    animals = [Animal(100, 100), Animal(110, 100)]  # 10 px apart, under crop_size / 4 = 16 px
    backend = ScriptedBackend(animals)
    fast = _fast(backend, refresh=1000)
    for _ in range(5):
        poses = fast.infer(FRAME)
        assert poses.valid.sum() == 2
    assert fast.counts == {"full: first frame": 1, "full: crops too close": 4}
    assert backend.instance_runs == 0  # decided from the previous poses, before any crop ran


def test_a_crop_that_locks_onto_the_other_animal_is_redone_in_full() -> None:
    animals = [Animal(100, 100), Animal(125, 100)]  # 25 px apart: crops placed apart, but overlapping
    backend = ScriptedBackend(animals)
    fast = _fast(backend, refresh=1000)
    fast.infer(FRAME)
    fast.infer(FRAME)
    assert fast.counts["instance stage only"] == 1
    animals[1].visible = False  # occluded: its crop now finds the other animal
    full_runs = backend.full_runs
    poses = fast.infer(FRAME)
    assert backend.full_runs == full_runs + 1  # this same frame, in full
    assert fast.counts["full: crops too close"] == 1
    assert poses.valid.sum() == 1  # not two poses of one animal


def test_a_fast_frame_that_loses_an_anchor_is_redone_in_full() -> None:
    animals = [Animal(60, 60), Animal(180, 180)]
    backend = ScriptedBackend(animals)
    fast = _fast(backend, refresh=1000)
    fast.infer(FRAME)
    fast.infer(FRAME)
    animals[1].anchor_visible = False  # the other nodes still score well: no score drop
    full_runs = backend.full_runs
    fast.infer(FRAME)
    assert backend.full_runs == full_runs + 1
    assert fast.counts["full: animal count changed"] == 1 and "full: score dropped" not in fast.counts
