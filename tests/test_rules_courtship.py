"""The fly courtship preset: its definition, and its decisions on the scene's ground truth
(the male swings behind the female and closes in during each scripted episode)."""

from __future__ import annotations

import numpy as np
import pytest

from rtpose.camera.fly_scene import NODE_NAMES, FlyScene
from rtpose.core.config import parse_config
from rtpose.core.errors import ConfigError
from rtpose.core.types import Poses
from rtpose.triggers import build_rule_set
from rtpose.triggers.presets import courtship_expression

FPS = 30.0


def _config(**rule: object):  # type: ignore[no-untyped-def]
    return parse_config(
        {
            "calibration": {"px_per_mm": 14.0},
            "rules": [{"name": "courtship", "kind": "courtship", **rule}],
        }
    )


def test_preset_is_the_published_condition() -> None:
    config = _config()
    assert courtship_expression(config.rules[0]) == (
        "distance(male.head, female.abdomen) < 2 mm and abs(angle(male, female)) < 25 deg"
        " and abs(angle(female, male)) > 145 deg"
    )
    overridden = _config(max_distance_mm=1.5, max_facing_angle_deg=30, min_rear_angle_deg=120)
    assert "< 1.5 mm" in courtship_expression(overridden.rules[0])
    assert "< 30 deg" in courtship_expression(overridden.rules[0])
    assert "> 120 deg" in courtship_expression(overridden.rules[0])


def test_preset_needs_a_calibration() -> None:
    config = parse_config({"rules": [{"name": "c", "kind": "courtship"}]})
    with pytest.raises(ConfigError, match=r"calibration\.px_per_mm"):
        build_rule_set(config, list(NODE_NAMES))


def _decisions(config, scene: FlyScene, seconds: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    rule_set = build_rule_set(config, list(NODE_NAMES))
    active = np.zeros(int(seconds * FPS), bool)
    poses = Poses.empty(2, len(NODE_NAMES))
    poses.valid[:] = True
    poses.identities[:] = [0, 1]
    for frame in range(len(active)):
        poses.points[:] = scene.poses_at_frame(frame)
        rule_set.update(poses, round(frame / FPS * 1e9), frame)
        active[frame] = bool(rule_set.rule_active[0])
    return active


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_preset_fires_in_every_scripted_episode_and_only_then(seed: int) -> None:
    scene = FlyScene(seed=seed, fps=FPS)
    active = _decisions(_config(min_duration_ms=100.0), scene, 25.0)
    episodes = scene.episodes_until(25.0)
    for frame in np.flatnonzero(active):
        episode = scene.episode_at(frame / FPS)
        assert episode is not None, f"active at {frame / FPS:.2f} s outside any episode"
    for episode in episodes:
        close = slice(int(episode.close_start_s * FPS) + 4, int(episode.close_end_s * FPS))
        assert active[close].all(), "the male is behind her, facing her, within 2 mm: the rule must hold"


def test_each_condition_of_the_preset_is_needed() -> None:
    scene = FlyScene(seed=0, fps=FPS)
    baseline = _decisions(_config(), scene, 9.0).sum()
    assert baseline > 0
    # the roles swapped (she is never behind him, facing him): never
    assert _decisions(_config(male="female", female="male"), scene, 9.0).sum() == 0
    assert _decisions(_config(max_distance_mm=0.1), scene, 9.0).sum() == 0
