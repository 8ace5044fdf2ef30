"""`rtpose export sleap-nn` on fixture A (shared/fixtures/sleapnn-topdown-A): the package, run by
rtpose.engine.load in ONNX Runtime, reproduces sleap-nn's own predictions; and the exporter's
errors name the problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("yaml")

from export.cli import main
from rtpose.core.model_metadata import read_metadata, sha256_of
from rtpose.engine import load

FIXTURE = SHARED / "fixtures" / "sleapnn-topdown-A"
needs_fixture = pytest.mark.skipif(not FIXTURE.is_dir(), reason=f"sleap-nn fixture A not found at {FIXTURE}")


@pytest.fixture(scope="module")
def fixture_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not FIXTURE.is_dir():
        pytest.skip(f"sleap-nn fixture A not found at {FIXTURE}")
    out = tmp_path_factory.mktemp("sleapnn") / "fixture-a"
    code = main(
        [
            "sleap-nn",
            str(FIXTURE / "centroid"),
            str(FIXTURE / "centered_instance"),
            "-o",
            str(out),
            "--max-instances",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    return out


@needs_fixture
def test_package_reproduces_sleap_nn_predictions(fixture_package: Path) -> None:
    frames = np.load(FIXTURE / "frames.npz")["frames"]
    expected = np.load(FIXTURE / "expected.npz")
    engine = load(fixture_package, threads=2)
    try:
        for index, frame in enumerate(frames):
            poses = engine.infer(frame)
            assert poses.valid.all() and poses.class_probs is None
            # Slots are sorted by score here; sleap-nn keeps raster order when there are ≤ K peaks.
            order = [
                int(np.argmin(np.linalg.norm(expected["centroids"][index] - c, axis=-1)))
                for c in poses.centroids
            ]
            assert sorted(order) == [0, 1]
            want_points = expected["keypoints"][index, order]
            np.testing.assert_array_equal(np.isnan(poses.points), np.isnan(want_points))
            np.testing.assert_allclose(poses.points, want_points, atol=0.01)
            np.testing.assert_allclose(poses.centroids, expected["centroids"][index, order], atol=0.01)
            np.testing.assert_allclose(
                poses.point_scores, expected["keypoint_scores"][index, order], atol=1e-4
            )
            np.testing.assert_allclose(
                poses.instance_scores, expected["instance_scores"][index, order], atol=1e-4
            )
    finally:
        engine.close()


@needs_fixture
def test_metadata_records_provenance(fixture_package: Path) -> None:
    metadata = read_metadata(fixture_package)
    assert metadata.node_names == ["head", "tail", "left", "right"]
    assert metadata.edges == [(0, 1), (2, 3)] and metadata.class_names == []
    assert metadata.frame_shape == (512, 512, 1) and metadata.max_instances == 2
    assert (metadata.centroid.scale, metadata.instance.crop_size) == (0.5, 96)
    provenance = metadata.provenance
    for stage, folder in (("centroid", "centroid"), ("instance", "centered_instance")):
        assert provenance[f"source.{stage}.folder"] == str((FIXTURE / folder).resolve())
        assert provenance[f"source.{stage}.checkpoint_sha256"] == sha256_of(FIXTURE / folder / "best.ckpt")
        assert provenance[f"source.{stage}.training_config_sha256"] == sha256_of(
            FIXTURE / folder / "training_config.yaml"
        )
    assert provenance["sleap_nn_version"] == "0.3.5"
    assert provenance["exporter_version"] and provenance["export.max_instances"] == 2
    assert provenance["size_match.scale"] == 1.0 and provenance["export.frame_size"] == "512x512"


@needs_fixture
def test_progress_and_size_matching_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rig-1024"
    args = ["sleap-nn", str(FIXTURE / "centroid"), str(FIXTURE / "centered_instance"), "-o", str(out)]
    assert main([*args, "--max-instances", "2", "--frame-size", "1024x768", "--channels", "3"]) == 0
    printed = capsys.readouterr().out
    assert "reading the centroid model" in printed and "exporting the fused graph" in printed
    assert "SIZE MATCHING" in printed and "s = 0.5" in printed and "512×384" in printed
    assert "RGB → grayscale" in printed
    metadata = read_metadata(out)
    assert metadata.frame_shape == (1024, 768, 3)
    assert metadata.provenance["size_match.scale"] == 0.5
    assert metadata.provenance["size_match.training_size"] == "512x512"
    assert metadata.provenance["size_match.resized_frame"] == "512x384"
    frame = np.repeat(np.load(FIXTURE / "frames.npz")["frames"][0], 2, axis=0)[:, :384]  # 1024×384×1
    frame = np.concatenate([frame, np.zeros_like(frame)], axis=1).repeat(3, axis=2)
    engine = load(out)
    try:
        assert engine.infer(np.ascontiguousarray(frame)).points.shape == (2, 4, 2)
    finally:
        engine.close()


def _copy_fixture(tmp_path: Path) -> tuple[Path, Path]:
    if not FIXTURE.is_dir():
        pytest.skip(f"sleap-nn fixture A not found at {FIXTURE}")
    centroid, instance = tmp_path / "centroid", tmp_path / "centered_instance"
    for folder in (centroid, instance):
        folder.mkdir()
        (folder / "training_config.yaml").write_bytes(
            (FIXTURE / folder.name / "training_config.yaml").read_bytes()
        )
        (folder / "best.ckpt").symlink_to(FIXTURE / folder.name / "best.ckpt")
    return centroid, instance


def _export_error(capsys: pytest.CaptureFixture[str], *args: str | Path, code: int = 1) -> str:
    assert main(["sleap-nn", *(str(arg) for arg in args)]) == code
    return capsys.readouterr().err


def test_missing_checkpoint_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    centroid, instance = _copy_fixture(tmp_path)
    (instance / "best.ckpt").unlink()
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out", "--max-instances", "2")
    assert "best.ckpt is missing" in err and str(instance) in err


def test_missing_config_and_folder_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    centroid, instance = _copy_fixture(tmp_path)
    (centroid / "training_config.yaml").unlink()
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out", "--max-instances", "2")
    assert "training_config.yaml is missing" in err
    err = _export_error(
        capsys, tmp_path / "nowhere", instance, "-o", tmp_path / "out", "--max-instances", "2"
    )
    assert "nowhere is not a folder" in err


def test_unreadable_checkpoint_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    centroid, instance = _copy_fixture(tmp_path)
    (centroid / "best.ckpt").unlink()
    (centroid / "best.ckpt").write_bytes(b"not a checkpoint")
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out", "--max-instances", "2")
    assert "cannot read the checkpoint" in err and "best.ckpt" in err


def test_checkpoint_that_does_not_fit_the_config_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    centroid, instance = _copy_fixture(tmp_path)
    config = (centroid / "training_config.yaml").read_text()
    (centroid / "training_config.yaml").write_text(config.replace("filters: 16", "filters: 8"))
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out", "--max-instances", "2")
    assert "does not fit" in err and "have another shape" in err
    assert "stack0_enc0_conv0.weight (checkpoint [16, 1, 3, 3], config expects [8, 1, 3, 3])" in err
    (centroid / "training_config.yaml").write_text(config.replace("max_stride: 16", "max_stride: 32"))
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out", "--max-instances", "2")
    assert "weights the config needs are missing" in err and "stack0_enc4_conv0" in err


def test_mismatched_node_names_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    centroid, instance = _copy_fixture(tmp_path)
    config = (centroid / "training_config.yaml").read_text()
    (centroid / "training_config.yaml").write_text(config.replace("name: tail", "name: abdomen"))
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out", "--max-instances", "2")
    assert "node names of the two models differ" in err and "abdomen" in err


def test_unsupported_model_type_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    centroid, instance = _copy_fixture(tmp_path)
    config = (instance / "training_config.yaml").read_text()
    config = config.replace("    bottomup: null\n", "").replace("    centered_instance:\n", "    bottomup:\n")
    (instance / "training_config.yaml").write_text(config)
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out", "--max-instances", "2")
    assert "model type 'bottomup' is not supported" in err and "centered_instance" in err
    err = _export_error(
        capsys, instance.parent / "centroid", centroid, "-o", tmp_path / "out", "--max-instances", "2"
    )
    assert "'centroid' model where the instance model is expected" in err


def test_max_instances_must_be_given_and_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    centroid, instance = _copy_fixture(tmp_path)
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out", "--max-instances", "0", code=2)
    assert "--max-instances must be at least 1" in err
    err = _export_error(capsys, centroid, instance, "-o", tmp_path / "out")
    assert "--max-instances is required" in err


def test_bad_frame_size_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sleap-nn", "a", "b", "-o", str(tmp_path), "--frame-size", "512"])
    assert "expected HxW" in capsys.readouterr().err


def test_package_metadata_is_plain_json(fixture_package: Path) -> None:
    raw = json.loads((fixture_package / "rtpose-model.json").read_text())
    assert all(isinstance(value, str | int | float) for value in raw["provenance"].values())
