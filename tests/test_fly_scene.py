"""The synthetic scene: deterministic for a seed, flies in frame, scripted approaches where
the script says, and the synthetic camera paces frames and reports skipped ids."""

from __future__ import annotations

import numpy as np

from rtpose.camera.fly_scene import ABDOMEN, HEAD, FlyScene
from rtpose.camera.synthetic import SyntheticCamera
from rtpose.core.config import SyntheticCameraConfig


def _head_to_abdomen(scene: FlyScene, frame_id: int) -> float:
    poses = scene.poses_at_frame(frame_id)
    return float(np.hypot(*(poses[1, HEAD] - poses[0, ABDOMEN])))


def test_same_seed_same_frames_and_poses() -> None:
    a, b, c = FlyScene(seed=3), FlyScene(seed=3), FlyScene(seed=4)
    frame_a, frame_b, frame_c = (np.empty((256, 256, 1), np.uint8) for _ in range(3))
    a.render_frame(77, frame_a)
    b.render_frame(77, frame_b)
    c.render_frame(77, frame_c)
    assert np.array_equal(frame_a, frame_b)
    assert not np.array_equal(frame_a, frame_c)
    assert np.array_equal(a.poses_at_frame(77), b.poses_at_frame(77))


def test_flies_stay_in_frame_and_female_is_larger() -> None:
    scene = FlyScene(seed=1)
    poses = np.stack([scene.poses_at_frame(i) for i in range(0, 60 * 40, 7)])
    assert np.all(poses >= 0) and np.all(poses < 256)
    female_length = np.hypot(*(poses[:, 0, HEAD] - poses[:, 0, ABDOMEN]).T)
    male_length = np.hypot(*(poses[:, 1, HEAD] - poses[:, 1, ABDOMEN]).T)
    assert np.all(female_length > male_length * 1.2)


def test_male_is_close_exactly_during_scripted_episodes() -> None:
    scene = FlyScene(seed=0, fps=60.0)
    episodes = scene.episodes_until(30.0)
    assert len(episodes) == 4
    for frame_id in range(0, 60 * 30, 3):
        t = frame_id / 60.0
        distance = _head_to_abdomen(scene, frame_id)
        in_close = any(e.close_start_s <= t <= e.close_end_s for e in episodes)
        in_episode = any(e.start_s <= t < e.end_s for e in episodes)
        if in_close:
            assert distance < 8.0
        if not in_episode:
            assert distance > 25.0


def test_synthetic_camera_realtime_skips_ids_when_grabs_are_late() -> None:
    camera = SyntheticCamera(SyntheticCameraConfig(fps=200.0), realtime=True)
    buffer = np.empty(camera.frame_shape, np.uint8)
    camera.start()
    first, first_ts = camera.grab_into(buffer, 1.0)
    import time

    time.sleep(0.05)  # 10 frame periods
    second, second_ts = camera.grab_into(buffer, 1.0)
    assert second - first >= 5
    assert second_ts is not None and first_ts is not None and second_ts > first_ts
    expected = np.empty_like(buffer)
    camera.scene.render_frame(second, expected)
    assert np.array_equal(buffer, expected)


def test_synthetic_camera_every_frame_mode_gives_consecutive_ids() -> None:
    camera = SyntheticCamera(SyntheticCameraConfig(fps=30.0), realtime=False)
    buffer = np.empty(camera.frame_shape, np.uint8)
    camera.start()
    ids = [camera.grab_into(buffer, 1.0)[0] for _ in range(5)]
    assert ids == [0, 1, 2, 3, 4]
