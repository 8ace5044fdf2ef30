"""The rule language: features on known geometry, three-valued logic, units, and errors that
point at the offending part."""

from __future__ import annotations

import math

import pytest

from rtpose.camera.fly_scene import NODE_NAMES, fly_nodes
from rtpose.core.types import Poses
from rtpose.triggers.expression import ExpressionError, FeatureEnvironment, compile_condition
from rtpose.triggers.expression.environment import CircleRoi, PolygonRoi, RectRoi

ANIMALS = ("female", "male")
MS = 1_000_000
ENVIRONMENT = FeatureEnvironment(
    ANIMALS,
    NODE_NAMES,
    px_per_mm=10.0,
    rois={
        "left_half": RectRoi(0.0, 0.0, 100.0, 200.0),
        "centre": CircleRoi(100.0, 100.0, 20.0),
        "triangle": PolygonRoi(((0.0, 0.0), (50.0, 0.0), (0.0, 50.0))),
    },
)


def _flies(female: tuple[float, float, float], male: tuple[float, float, float]) -> Poses:
    """Female and male as (x, y, heading in degrees), thorax-centred, 40 px long."""
    poses = Poses.empty(2, len(NODE_NAMES))
    for slot, (x, y, heading_deg) in enumerate((female, male)):
        poses.points[slot] = fly_nodes((x, y), math.radians(heading_deg), 40.0)
        poses.valid[slot] = True
        poses.point_scores[slot] = 0.9
    poses.identities[:] = [0, 1]
    return poses


def _value(text: str, poses: Poses, t_ns: int = 0) -> bool | None:
    return compile_condition(text, ENVIRONMENT).evaluate(poses, t_ns)


# female at (100, 100) facing +x; male 30 px behind her, facing her
BEHIND = _flies((100.0, 100.0, 0.0), (70.0, 100.0, 0.0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("distance(female.thorax, male.thorax) < 30.01 px", True),
        ("distance(female.thorax, male.thorax) < 3 mm", False),
        ("distance(female.thorax, male.thorax) <= 3.001 mm", True),
        ("abs(angle(female, male)) > 179 deg", True),  # he is straight behind her
        ("abs(angle(male, female)) < 1 deg", True),  # she is straight ahead of him
        ("abs(angle(male, female)) < 0.01 rad", True),
        ("heading(female) > -1 deg and heading(female) < 1 deg", True),
        ("inside(female.thorax, centre) and not inside(male.thorax, centre)", True),
        ("inside(male.thorax, left_half)", True),
        ("inside(male.thorax, triangle) or inside(female.thorax, triangle)", False),
        ("visible(male.head) and score(male.head) > 0.5", True),
        ("(distance(female.head, male.head) < 1 px or visible(female.abdomen)) and -1 < 0", True),
    ],
)
def test_features_on_known_geometry(text: str, expected: bool) -> None:
    assert _value(text, BEHIND) is expected


def test_angle_sign_is_clockwise_in_the_image() -> None:
    # female facing +x, male straight below her on screen (y grows downwards): +90
    poses = _flies((100.0, 100.0, 0.0), (100.0, 150.0, 0.0))
    assert _value("angle(female, male) > 89.9 deg and angle(female, male) < 90.1 deg", poses) is True


def test_missing_animal_is_unknown_and_kleene_logic() -> None:
    poses = _flies((100.0, 100.0, 0.0), (70.0, 100.0, 0.0))
    poses.identities[:] = [0, -1]  # the male has no identity this frame
    assert _value("distance(male.head, female.abdomen) < 100 mm", poses) is None
    assert _value("not distance(male.head, female.abdomen) < 100 mm", poses) is None
    assert _value("distance(male.head, female.abdomen) < 100 mm and 1 < 0", poses) is False
    assert _value("distance(male.head, female.abdomen) < 100 mm or 0 < 1", poses) is True
    assert _value("visible(male.head)", poses) is False
    assert _value("score(male.head) < 0.1", poses) is True


def test_speed_from_frame_timestamps_in_px_and_mm() -> None:
    condition = compile_condition(
        "speed(male.thorax) > 99 px/s and speed(male.thorax) < 10.1 mm/s", ENVIRONMENT
    )
    assert condition.evaluate(_flies((100.0, 100.0, 0.0), (70.0, 100.0, 0.0)), 0) is None  # no previous frame
    # 1 px in 10 ms = 100 px/s = 10 mm/s, whatever short-circuiting skips
    assert condition.evaluate(_flies((100.0, 100.0, 0.0), (71.0, 100.0, 0.0)), 10 * MS) is True
    assert condition.evaluate(_flies((100.0, 100.0, 0.0), (71.0, 100.0, 0.0)), 20 * MS) is False


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("distance(male.head, female.abdomn) < 2 mm", 28, "unknown node 'abdomn'"),
        ("distance(male.head, queen.abdomen) < 2 mm", 21, "unknown animal 'queen'"),
        ("dist(male.head, female.head) < 2 mm", 1, "did you mean distance()"),
        ("distance(male.head, female.abdomen) < 2", 39, "give 2 a unit"),
        ("distance(male.head, female.abdomen) < 2 cm", 41, "unknown unit 'cm'"),
        ("abs(angle(male, female)) < 3 mm", 26, "cannot compare an angle"),
        ("distance(male.head, female.abdomen)", 1, "not a condition"),
        ("visible(male)", 9, "takes a point"),
        ("angle(male.head, female) < 3 deg", 7, "takes an animal"),
        ("inside(male.head, arena)", 19, "unknown ROI 'arena'"),
        ("distance(male.head, female.head) < 2 mm and", 44, "expected a value"),
        ("(visible(male.head)", 20, "expected ')'"),
        ("visible(male.head))", 19, "unbalanced ')'"),
        ("1 mm < distance(male.head, female.head) < 2 mm", 41, "chained comparison"),
        ("visible(male.head) && visible(female.head)", 20, "use 'and'"),
        ("score(male.head) == 1", 18, "use < <= > >="),
        ("speed(male.head) > 3 ms", 22, "no feature is a time"),
        ("visible(male.head) and 3 px", 24, "needs a condition"),
        ("", 1, "empty expression"),
    ],
)
def test_errors_say_where_and_why(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(text, ENVIRONMENT)
    error = caught.value
    assert fragment in error.reason
    assert error.column == column, str(error)
    caret_line = str(error).splitlines()[-1]
    assert caret_line.index("^") - 4 == column - 1  # the caret sits under the offending part


def test_mm_needs_a_calibration() -> None:
    environment = FeatureEnvironment(ANIMALS, NODE_NAMES)
    with pytest.raises(ExpressionError, match=r"calibration\.px_per_mm"):
        compile_condition("distance(male.head, female.abdomen) < 2 mm", environment)


def test_heading_nodes_must_exist() -> None:
    environment = FeatureEnvironment(ANIMALS, NODE_NAMES, heading_nodes=("neck", "head"))
    with pytest.raises(ExpressionError, match=r"features\.heading_nodes") as caught:
        compile_condition("abs(angle(male, female)) < 3 deg", environment)
    assert caught.value.column == 5
