"""Fast mode (rtpose/engine/fast_mode.py) on the demo package in ONNX Runtime: its accuracy on
moving synthetic flies against the full pipeline, and when it falls back to the full pipeline.
Its speed is measured in benchmarks/engine_fast_mode.py, not asserted here."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from test_engine_demo_accuracy import matched_errors

from rtpose.camera.fly_scene import FlyScene
from rtpose.engine import load
from rtpose.engine.fast_mode import FastModeEngine
from rtpose.engine.options import EngineOptions, FastModeOptions

FPS = 100.0  # fast mode is for high frame rates: the flies move ~1 px per frame


def _fast(refresh: int = 10, min_score: float = 0.3) -> FastModeEngine:
    options = EngineOptions(fast_mode=FastModeOptions(True, refresh, min_score))
    engine = load("demo", "onnxruntime", options=options)
    assert isinstance(engine, FastModeEngine)
    return engine


def _frames(seed: int, count: int, start: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    scene = FlyScene(frame_size=(256, 256), seed=seed, fps=FPS)
    out = []
    for frame_id in range(start, start + count):
        frame = np.empty((256, 256, 1), np.uint8)
        scene.render_frame(frame_id, frame)
        out.append((frame, scene.poses_at_frame(frame_id)))
    return out


def test_fast_mode_is_as_accurate_as_the_full_pipeline_on_moving_flies() -> None:
    full, fast = load("demo", "onnxruntime"), _fast(refresh=10)
    full_errors, fast_errors = [], []
    for seed in (11, 12):
        for frame, truth in _frames(seed, 100, start=200):
            full_errors.append(matched_errors(full.infer(frame).points, truth))
            fast_errors.append(matched_errors(fast.infer(frame).points, truth))
    full_errors_px, fast_errors_px = np.stack(full_errors), np.stack(fast_errors)
    assert fast.counts["instance stage only"] >= 0.8 * len(fast_errors)  # the centroid network was skipped
    assert abs(np.median(fast_errors_px) - np.median(full_errors_px)) <= 0.5  # the bound
    assert (fast_errors_px < 5.0).mean() >= (full_errors_px < 5.0).mean() - 0.02
    full.close()
    fast.close()


def test_refreshes_every_n_frames() -> None:
    fast = _fast(refresh=10)
    frames = _frames(11, 25, start=300)
    for frame, _ in frames:
        fast.infer(frame)
    assert fast.counts == {"full: first frame": 1, "full: periodic refresh": 2, "instance stage only": 22}


def test_a_lost_animal_reruns_the_full_pipeline_on_that_frame() -> None:
    fast, full = _fast(refresh=1000), load("demo", "onnxruntime")
    (frame, _), (later, _) = _frames(11, 2, start=300)
    fast.infer(frame)
    empty = np.full_like(frame, 190)  # the arena without flies: the instance stage's scores collapse
    poses = fast.infer(empty)
    assert fast.counts["full: score dropped"] == 1
    assert not poses.valid.any()  # the full pipeline's answer on that same frame
    fast.infer(empty)
    assert fast.counts["full: animal count changed"] == 1  # 2 → 0 animals: confirmed by another full frame
    again = fast.infer(later)  # animals back: found by the centroid network at once
    assert fast.counts["full: nothing tracked"] == 1
    np.testing.assert_allclose(again.points, full.infer(later).points, atol=1e-4)


def test_fast_frames_carry_crop_centres_and_scores() -> None:
    fast = _fast(refresh=100)
    (first, _), (second, _) = _frames(12, 2, start=250)
    full_poses = fast.infer(first)
    poses = fast.infer(second)
    assert fast.counts["instance stage only"] == 1
    anchor = fast.metadata.node_names.index("thorax")
    np.testing.assert_allclose(poses.centroids, full_poses.points[:, anchor], atol=1e-6)
    np.testing.assert_array_equal(poses.instance_scores, full_poses.instance_scores)
    assert poses.valid.sum() == 2 and np.isfinite(poses.points).all()
