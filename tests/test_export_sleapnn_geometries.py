"""Random-weight sleap-nn-shaped model pairs in several geometries, written as fake sleap-nn model
folders, exported by `rtpose export sleap-nn` and run by rtpose.engine.load: the package must agree
with a plain step-by-step reference of sleap-nn's top-down inference (tests/sleapnn_reference.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("yaml")

from sleapnn_fakes import FakeModel, write_fake_model_folder
from sleapnn_reference import reference_topdown

from export.cli import main
from rtpose.core.model_metadata import read_metadata
from rtpose.engine import load


@dataclass(frozen=True)
class Geometry:
    centroid: FakeModel
    instance: FakeModel
    max_instances: int = 3
    frame_size: tuple[int, int] = (64, 80)
    channels: int = 1
    extra_args: tuple[str, ...] = field(default=())


def _pair(centroid: dict[str, object], instance: dict[str, object], **geometry: object) -> Geometry:
    base_instance = FakeModel(model_type="centered_instance", crop_size=16, seed=1)
    return Geometry(
        centroid=replace(FakeModel(model_type="centroid"), **centroid),  # type: ignore[arg-type]
        instance=replace(base_instance, **instance),  # type: ignore[arg-type]
        **geometry,  # type: ignore[arg-type]
    )


GEOMETRIES = {
    "stride2-scale1": _pair({"scale": 1.0}, {}),
    "stride4-scale0.5": _pair({"scale": 0.5, "output_stride": 4}, {"output_stride": 4, "scale": 0.5}),
    "scale0.25-stem": _pair(
        {"scale": 0.25, "max_height": 128, "max_width": 128, "stem_stride": 2, "max_stride": 16},
        {"crop_size": 32, "stem_stride": 2, "max_stride": 16},
        frame_size=(128, 128),
    ),
    "rgb-model-gray-camera": _pair(
        {"in_channels": 3, "ensure_rgb": True, "ensure_grayscale": False},
        {"in_channels": 3, "ensure_rgb": True, "ensure_grayscale": False},
        extra_args=("--channels", "1"),
    ),
    "gray-model-rgb-camera": _pair({}, {}, channels=3, extra_args=("--channels", "3")),
    "id-model-transposed-conv": _pair(
        {"up_interpolate": False},
        {"model_type": "multi_class_topdown", "classes": ["alice", "bob", "carol"], "up_interpolate": False},
    ),  # K defaults to the number of classes
    "size-matched": _pair({"scale": 0.5}, {}, frame_size=(100, 90), extra_args=("--frame-size", "100x90")),
}


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_package_matches_the_step_by_step_reference(name: str, tmp_path: Path) -> None:
    geometry = GEOMETRIES[name]
    centroid_net = write_fake_model_folder(tmp_path / "centroid", geometry.centroid)
    instance_net = write_fake_model_folder(tmp_path / "instance", geometry.instance)
    out = tmp_path / "package"
    args = ["sleap-nn", str(tmp_path / "centroid"), str(tmp_path / "instance"), "-o", str(out), "--quiet"]
    if geometry.instance.model_type != "multi_class_topdown":
        args += ["--max-instances", str(geometry.max_instances), "--onnx-only"]  # variants: ID model only
    assert main([*args, *geometry.extra_args]) == 0
    if geometry.instance.model_type == "multi_class_topdown":
        _check_instance_graph(out)
    metadata = read_metadata(out)
    assert metadata.frame_shape == (*geometry.frame_size, geometry.channels)
    assert metadata.class_names == geometry.instance.classes
    training_hw = (geometry.centroid.max_height, geometry.centroid.max_width)
    engine = load(out)
    try:
        found = 0
        for seed in range(3):
            frame = np.random.default_rng(seed).integers(
                0, 256, (*geometry.frame_size, geometry.channels), np.uint8
            )
            poses = engine.infer(frame)
            want = reference_topdown(
                frame,
                centroid_net,
                instance_net,
                max_instances=geometry.max_instances,
                centroid_scale=geometry.centroid.scale,
                crop_size=geometry.instance.crop_size or 0,
                instance_scale=geometry.instance.scale,
                model_hw=training_hw if training_hw != geometry.frame_size else None,  # type: ignore[arg-type]
            )
            n = len(want.instance_scores)
            found += n
            assert poses.valid.tolist() == [True] * n + [False] * (geometry.max_instances - n)
            np.testing.assert_allclose(poses.instance_scores[:n], want.instance_scores, atol=1e-4)
            np.testing.assert_allclose(poses.centroids[:n], want.centroids, atol=1e-3)
            np.testing.assert_array_equal(np.isnan(poses.points[:n]), np.isnan(want.points))
            np.testing.assert_allclose(poses.points[:n], want.points, atol=1e-3)
            np.testing.assert_allclose(poses.point_scores[:n], want.point_scores, atol=1e-4)
            assert np.isnan(poses.points[n:]).all() and not poses.point_scores[n:].any()
            if want.class_probs is None:
                assert poses.class_probs is None
            else:
                assert poses.class_probs is not None
                assert poses.class_probs.shape == (geometry.max_instances, len(geometry.instance.classes))
                np.testing.assert_allclose(poses.class_probs[:n], want.class_probs, atol=1e-5)
                assert not poses.class_probs[n:].any()
        assert found > 0, "no instance found: the geometry does not exercise the decode"
    finally:
        engine.close()


def test_fp16_variant_is_written_and_close_to_fp32(tmp_path: Path) -> None:
    from export.fp16 import FP16_ONNX_FILE, compare_precisions

    geometry = GEOMETRIES["stride2-scale1"]
    write_fake_model_folder(tmp_path / "centroid", geometry.centroid)
    write_fake_model_folder(tmp_path / "instance", geometry.instance)
    out = tmp_path / "package"
    args = ["sleap-nn", str(tmp_path / "centroid"), str(tmp_path / "instance"), "-o", str(out)]
    assert main([*args, "--max-instances", "3", "--fp16", "--quiet", "--onnx-only"]) == 0
    metadata = read_metadata(out)  # verifies both graphs' hashes
    assert metadata.files.onnx_fp16 == FP16_ONNX_FILE and metadata.provenance["export.fp16"] == 1
    import onnx

    graph = onnx.load(str(out / FP16_ONNX_FILE))
    weight_types = {init.data_type for init in graph.graph.initializer if len(init.dims) == 4}
    assert weight_types == {onnx.TensorProto.FLOAT16}  # conv weights are fp16
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    frames = [np.random.default_rng(seed).integers(0, 256, (64, 80, 1), np.uint8) for seed in range(3)]
    differences = compare_precisions(out / "model.onnx", out / FP16_ONNX_FILE, frames)
    assert differences["slot_disagreements"] == 0
    assert differences["max_point_difference_px"] < 0.1 and differences["max_score_difference"] < 0.01


def _check_instance_graph(out: Path) -> None:
    """The ID model's instance graph (with class_probs) gives the full graph's outputs at its centroids."""
    import onnxruntime as ort

    metadata = read_metadata(out)
    assert metadata.files.instance_onnx and metadata.files.torch_program
    frame = np.random.default_rng(5).integers(0, 256, metadata.frame_shape, dtype=np.uint8)
    full = ort.InferenceSession(str(out / metadata.files.onnx), providers=["CPUExecutionProvider"])
    points, _, _, valid, centroids, class_probs = full.run(None, {"frame": frame})
    instance = ort.InferenceSession(
        str(out / metadata.files.instance_onnx), providers=["CPUExecutionProvider"]
    )
    got_points, _, got_valid, got_class_probs = instance.run(None, {"frame": frame, "centroids": centroids})
    np.testing.assert_array_equal(got_valid, valid)
    np.testing.assert_allclose(got_points, points, atol=1e-4)
    np.testing.assert_allclose(got_class_probs, class_probs, atol=1e-5)
