"""`rtpose check` compiles every rule against the model and the animals, and points at errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtpose.cli import main

EXPRESSION_RULE = """[[rules]]
name = "male_approach"
kind = "expression"
when = "{when}"
min_duration_ms = 100.0
output = "opto"

"""


def _rig(tmp_path: Path, demo_config_text: str, when: str, extra: str = "") -> Path:
    start = demo_config_text.index("[[rules]]")
    end = demo_config_text.index("[daq]")
    text = demo_config_text[:start] + extra + EXPRESSION_RULE.format(when=when) + demo_config_text[end:]
    path = tmp_path / "rig.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_expression_with_roi_and_tracker_checks_ok(
    tmp_path: Path, demo_config_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    roi = '[[rois]]\nname = "arena"\nshape = "rect"\nmin_px = [0, 0]\nmax_px = [255, 255]\n\n'
    text = demo_config_text.replace('method = "size"', 'method = "tracker"')
    when = "distance(male.head, female.abdomen) < 2 mm and inside(male.thorax, arena)"
    assert main(["check", str(_rig(tmp_path, text, when, roi))]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("when", "fragment", "caret_column"),
    [
        ("distance(male.head, female.tail) < 2 mm", "unknown node 'tail'", 28),
        ("distance(male.head, queen.abdomen) < 2 mm", "unknown animal 'queen'", 21),
        ("closeness(male.head, female.abdomen) < 2 mm", "unknown function 'closeness'", 1),
        ("distance(male.head, female.abdomen) < 2 inch", "unknown unit 'inch'", 41),
    ],
)
def test_check_points_at_the_offending_part(
    tmp_path: Path,
    demo_config_text: str,
    capsys: pytest.CaptureFixture[str],
    when: str,
    fragment: str,
    caret_column: int,
) -> None:
    assert main(["check", str(_rig(tmp_path, demo_config_text, when))]) == 2
    message = capsys.readouterr().err
    assert "rules.0.when" in message and fragment in message
    caret_line = next(line for line in message.splitlines() if line.strip().startswith("^"))
    assert caret_line.index("^") - 4 == caret_column - 1
