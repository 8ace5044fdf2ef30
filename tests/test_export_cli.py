"""`rtpose export demo` end to end with a few training steps: a loadable package comes out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from export.cli import main
from rtpose.camera.fly_scene import EDGES, NODE_NAMES
from rtpose.core.model_metadata import read_metadata
from rtpose.engine import load


def test_export_demo_with_few_steps_writes_a_loadable_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--steps", "3", "--seed", "1", "--quiet"]) == 0
    assert "wrote model package" in capsys.readouterr().out
    metadata = read_metadata(out)
    assert metadata.node_names == list(NODE_NAMES)
    assert metadata.edges == [tuple(edge) for edge in EDGES]
    assert metadata.anchor_node == "thorax" and metadata.max_instances == 2
    assert metadata.frame_shape == (256, 256, 1)
    assert metadata.provenance["training.seed"] == 1
    assert metadata.provenance["training.centroid_steps"] == 3
    assert sum(path.stat().st_size for path in out.iterdir()) < 5 * 1024 * 1024
    engine = load(out)
    poses = engine.infer(np.full((256, 256), 200, np.uint8))
    assert poses.points.shape == (2, len(NODE_NAMES), 2)
    engine.close()


def test_export_rejects_nonpositive_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "-o", str(tmp_path / "x"), "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err


def test_export_needs_a_kind() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
