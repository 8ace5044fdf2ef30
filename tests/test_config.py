"""Rig config validation: unknown keys, wrong types, missing model, frame size mismatch —
each fails `rtpose check` with a message naming the field, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtpose.cli import main
from rtpose.core.config import load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_config_checks_ok(
    tmp_path: Path, demo_config_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, demo_config_text)
    assert main(["check", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "field", "hint"),
    [
        (("fps = 60.0", "fps = 60.0\nexposure_us = 100"), "camera.exposure_us", "unknown key"),
        (("fps = 60.0", 'fps = "fast"'), "camera.fps", "valid number"),
        (("max_distance_mm = 2.0", "max_distance_mm = -3"), "rules.0.max_distance_mm", "greater than 0"),
        (('path = "demo"', 'path = "no-such-model"'), "model.path", "does not exist"),
        (("frame_size = [256, 256]", "frame_size = [300, 400]"), "camera.frame_size", "takes 256×256"),
        (('output = "opto"', 'output = "laser"'), "rules.0.output", "not a daq output"),
        (('female = "female"', 'female = "female"\nfemale_node = "wing"'), "rules.0", "unknown node 'wing'"),
        (('male = "male"', 'male = "queen"'), "rules.0.male", "identity.animals"),
        (('kind = "courtship"', 'kind = "courting"'), "rules.0.kind", "unknown rule kind"),
        (("px_per_mm = 14.0", "px_per_mm = 0"), "calibration.px_per_mm", "greater than 0"),
        (('method = "size"', 'method = "classes"'), "identity.method", "needs a top-down ID model"),
    ],
)
def test_bad_config_names_the_field(
    tmp_path: Path,
    demo_config_text: str,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    field: str,
    hint: str,
) -> None:
    old, new = change
    assert old in demo_config_text
    path = _write(tmp_path, demo_config_text.replace(old, new, 1))
    assert main(["check", str(path)]) == 2
    message = capsys.readouterr().err
    assert field in message
    assert hint in message


def test_missing_model_file_in_package(
    tmp_path: Path, demo_config_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    from rtpose.engine import DEMO_MODEL_DIR

    (package / "rtpose-model.json").write_text((Path(DEMO_MODEL_DIR) / "rtpose-model.json").read_text())
    path = _write(tmp_path, demo_config_text.replace('path = "demo"', 'path = "pkg"'))
    assert main(["check", str(path)]) == 2
    message = capsys.readouterr().err
    assert "model.path" in message and "model.onnx" in message


def test_not_toml(tmp_path: Path) -> None:
    from rtpose.core.errors import ConfigError

    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[camera\nfps = 1"))
