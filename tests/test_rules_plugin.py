"""Python plugin rules: loaded from a module or a file, given their setup, timed like any rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtpose.camera.fly_scene import NODE_NAMES
from rtpose.core.config import parse_config
from rtpose.core.errors import ConfigError
from rtpose.core.types import Poses
from rtpose.triggers import build_rule_set

MS = 1_000_000
PLUGIN = """
def make_condition(setup):
    node = setup.node_names.index(setup.options["node"])
    animal = setup.animals.index(setup.options["animal"])
    limit_px = setup.options["max_x_mm"] * setup.px_per_mm

    def condition(poses, t_ns):
        for slot in range(len(poses.valid)):
            if poses.valid[slot] and poses.identities[slot] == animal:
                x = float(poses.points[slot, node, 0])
                return None if x != x else x < limit_px
        return None

    return condition
"""


def _config(function: str, **options: object):  # type: ignore[no-untyped-def]
    return parse_config(
        {
            "calibration": {"px_per_mm": 10.0},
            "rules": [
                {
                    "name": "left",
                    "kind": "plugin",
                    "function": function,
                    "options": {"node": "head", "animal": "male", "max_x_mm": 5.0, **options},
                    "min_duration_ms": 20.0,
                }
            ],
        }
    )


def _poses(x: float) -> Poses:
    poses = Poses.empty(2, len(NODE_NAMES))
    poses.valid[:] = True
    poses.identities[:] = [0, 1]
    poses.points[1, 0] = (x, 10.0)
    return poses


def test_plugin_from_a_file_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "my_rules.py").write_text(PLUGIN, encoding="utf-8")
    rule_set = build_rule_set(_config("my_rules.py:make_condition"), list(NODE_NAMES), tmp_path)
    states = []
    for frame, x in enumerate([10.0, 10.0, 10.0, 90.0, 10.0]):
        rule_set.update(_poses(x), frame * 10 * MS, frame)
        states.append(bool(rule_set.rule_active[0]))
    assert states == [False, False, True, False, False]  # 20 ms hold, then released


def test_plugin_from_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lab_rules_module.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    rule_set = build_rule_set(_config("lab_rules_module:make_condition"), list(NODE_NAMES))
    rule_set.update(_poses(10.0), 0, 0)
    rule_set.update(_poses(10.0), 30 * MS, 1)
    assert rule_set.rule_active.tolist() == [1]


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("missing.py:make_condition", "does not exist"),
        ("no_such_module_xyz:make", "cannot import"),
        ("my_rules.py:nothing", "no callable 'nothing'"),
    ],
)
def test_bad_plugins_name_the_field(tmp_path: Path, function: str, message: str) -> None:
    (tmp_path / "my_rules.py").write_text(PLUGIN, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        build_rule_set(_config(function), list(NODE_NAMES), tmp_path)
    assert "rules.0.function" in str(caught.value)


def test_factory_errors_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "my_rules.py").write_text(PLUGIN, encoding="utf-8")
    with pytest.raises(ConfigError, match="raised ValueError"):
        build_rule_set(_config("my_rules.py:make_condition", node="tail"), list(NODE_NAMES), tmp_path)
