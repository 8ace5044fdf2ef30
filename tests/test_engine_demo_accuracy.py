"""The bundled demo model, through rtpose.engine.load, on fly-scene frames it was not trained on.

The demo's rules (male head near female abdomen, relative angles) depend on this accuracy.
Training used random poses from ``random_training_poses``; these are the scene's scripted
trajectories, across two approach episodes each.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from rtpose.camera.fly_scene import FlyScene
from rtpose.engine import DEMO_MODEL_DIR, load

SCENE_SEEDS = (11, 12)
FRAMES_PER_SCENE = 50
FRAME_STEP = 12  # 50 frames × 12 at 30 fps: 20 s, three approach episodes


def matched_errors(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-keypoint errors (A×J, inf where missing) under the assignment of predicted slots to
    animals with the least mean error (exhaustive: K and A are small)."""
    best: np.ndarray | None = None
    for slots in itertools.permutations(range(points.shape[0]), truth.shape[0]):
        errors = np.linalg.norm(points[list(slots)] - truth, axis=-1)
        errors = np.where(np.isnan(errors), np.inf, errors)
        if best is None or np.mean(np.minimum(errors, 1e6)) < np.mean(np.minimum(best, 1e6)):
            best = errors
    assert best is not None
    return best


@pytest.fixture(scope="module")
def demo_results() -> tuple[np.ndarray, np.ndarray]:
    """(frames × animals × nodes errors, frames × both-found flags)."""
    engine = load("demo")
    frame = np.empty((256, 256, 1), np.uint8)
    errors, both_found = [], []
    try:
        for seed in SCENE_SEEDS:
            scene = FlyScene(frame_size=(256, 256), seed=seed, fps=30.0)
            for frame_id in range(0, FRAMES_PER_SCENE * FRAME_STEP, FRAME_STEP):
                scene.render_frame(frame_id, frame)
                poses = engine.infer(frame)
                both_found.append(int(poses.valid.sum()) >= 2)
                errors.append(matched_errors(poses.points, scene.poses_at_frame(frame_id)))
    finally:
        engine.close()
    return np.stack(errors), np.array(both_found)


def test_demo_package_is_small() -> None:
    assert sum(path.stat().st_size for path in DEMO_MODEL_DIR.iterdir()) < 5 * 1024 * 1024


def test_demo_model_finds_both_flies(demo_results: tuple[np.ndarray, np.ndarray]) -> None:
    _, both_found = demo_results
    assert both_found.mean() >= 0.98


def test_demo_model_keypoints_are_accurate(demo_results: tuple[np.ndarray, np.ndarray]) -> None:
    errors, _ = demo_results
    assert np.median(errors) < 1.0  # the brief asks < 2 px; the model does far better
    assert (errors < 5.0).mean() >= 0.95
