"""The contract every engine backend honours, run by every backend available here.

Reference: the package's ``model.onnx`` in ONNX Runtime on the CPU. Tolerances, stated once:
- fp32 backends: points within 1e-3 px, scores within 1e-4, the same filled slots;
- fp16 (GPU only): the same filled slots, points within 0.5 px (max) and 0.05 px (median) of the
  fp32 reference, scores within 0.02.
Backends: onnxruntime and torch (CPU) always; tensorrt on the fakes (tests/fake_tensorrt.py:
exercises the backend's own code, not TensorRT's numerics); torch on CUDA and real TensorRT only
on a GPU machine (marked gpu, skipped elsewhere).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from rtpose.camera.fly_scene import FlyScene
from rtpose.core.errors import EngineError
from rtpose.core.types import Poses
from rtpose.engine import load
from rtpose.engine.options import EngineOptions, FastModeOptions, gpu_driver_present
from rtpose.engine.protocol import Engine, InstanceStageEngine


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda() -> bool:
    if not (gpu_driver_present() and _has("torch")):
        return False
    import torch

    return bool(torch.cuda.is_available())


GPU = pytest.mark.gpu
NO_CUDA = pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU and a CUDA build of torch")
NO_TENSORRT = pytest.mark.skipif(
    not (_cuda() and _has("tensorrt") and _has("cuda")), reason="needs a GPU, tensorrt and cuda-python"
)


@dataclass(frozen=True)
class Backend:
    backend: str
    precision: str = "fp32"
    fakes: bool = False


CASES = [
    pytest.param(Backend("onnxruntime"), id="onnxruntime-cpu"),
    pytest.param(
        Backend("torch"),
        id="torch-cpu-or-cuda",
        marks=pytest.mark.skipif(not _has("torch"), reason="torch not installed"),
    ),
    pytest.param(Backend("tensorrt", fakes=True), id="tensorrt-on-fakes"),
    pytest.param(Backend("torch", "fp16"), id="torch-cuda-fp16", marks=[GPU, NO_CUDA]),
    pytest.param(Backend("tensorrt"), id="tensorrt-gpu", marks=[GPU, NO_TENSORRT]),
]
Opener = Callable[..., Engine]


@pytest.fixture(params=CASES)
def open_engine(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Backend, Opener]]:
    case: Backend = request.param
    if case.fakes:
        import fake_cuda_runtime
        import fake_tensorrt

        fake_tensorrt.install(monkeypatch)
        fake_cuda_runtime.install(monkeypatch)
    opened: list[Engine] = []

    def open_(fast_mode: FastModeOptions | None = None) -> Engine:
        options = EngineOptions(
            precision=case.precision, plan_cache_dir=tmp_path, fast_mode=fast_mode or FastModeOptions()
        )
        engine = load("demo", case.backend, options=options)
        opened.append(engine)
        return engine

    yield case, open_
    for engine in opened:
        engine.close()


@pytest.fixture(scope="module")
def frames_and_reference() -> tuple[list[np.ndarray], list[Poses]]:
    scene = FlyScene(frame_size=(256, 256), seed=21, fps=30.0)
    frames = []
    for frame_id in (0, 90, 200, 330):
        frame = np.empty((256, 256, 1), np.uint8)
        scene.render_frame(frame_id, frame)
        frames.append(frame)
    frames.append(np.full((256, 256, 1), 190, np.uint8))  # the arena without flies: every slot empty
    reference = load("demo", "onnxruntime")
    poses = [reference.infer(frame) for frame in frames]
    reference.close()
    return frames, poses


def assert_same_poses(got: Poses, want: Poses, precision: str) -> None:
    np.testing.assert_array_equal(got.valid, want.valid)
    found = np.isfinite(want.points[..., 0]) & np.isfinite(got.points[..., 0])
    difference = np.abs(got.points - want.points)[found]
    if precision == "fp32":
        np.testing.assert_array_equal(np.isfinite(got.points), np.isfinite(want.points))
        np.testing.assert_allclose(got.points, want.points, atol=1e-3)
        np.testing.assert_allclose(got.point_scores, want.point_scores, atol=1e-4)
        np.testing.assert_allclose(got.centroids, want.centroids, atol=1e-3)
    else:
        assert difference.size == 0 or (difference.max() <= 0.5 and np.median(difference) <= 0.05)
        np.testing.assert_allclose(
            got.point_scores[found[..., 0]], want.point_scores[found[..., 0]], atol=0.02
        )


def test_same_poses_as_the_reference(
    open_engine: tuple[Backend, Opener], frames_and_reference: tuple[list[np.ndarray], list[Poses]]
) -> None:
    case, open_ = open_engine
    engine = open_()
    frames, reference = frames_and_reference
    for frame, want in zip(frames, reference, strict=True):
        got = engine.infer(frame)
        assert got.points.dtype == np.float32 and got.points.shape == want.points.shape
        assert got.valid.dtype == np.bool_ and got.point_scores.shape == want.point_scores.shape
        assert_same_poses(got, want, case.precision)


def test_grayscale_frames_without_channel_axis_and_buffer_reuse(
    open_engine: tuple[Backend, Opener], frames_and_reference: tuple[list[np.ndarray], list[Poses]]
) -> None:
    case, open_ = open_engine
    engine = open_()
    frames, reference = frames_and_reference
    buffer = frames[0][:, :, 0].copy()
    first = engine.infer(buffer)
    buffer[...] = 0  # the caller reuses its buffer: earlier poses must not change
    engine.infer(buffer)
    assert_same_poses(first, reference[0], case.precision)


def test_bad_frames_closing_and_use_after_close(open_engine: tuple[Backend, Opener]) -> None:
    _, open_ = open_engine
    engine = open_()
    with pytest.raises(EngineError, match=r"256×256×1.*got 256×255×1"):
        engine.infer(np.zeros((256, 255, 1), np.uint8))
    with pytest.raises(EngineError, match="uint8"):
        engine.infer(np.zeros((256, 256, 1), np.float32))  # type: ignore[arg-type]
    engine.close()
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.infer(np.zeros((256, 256, 1), np.uint8))


def test_instance_stage_at_the_full_graphs_centroids_gives_its_points(
    open_engine: tuple[Backend, Opener], frames_and_reference: tuple[list[np.ndarray], list[Poses]]
) -> None:
    case, open_ = open_engine
    engine = open_(FastModeOptions(enabled=True))
    inner = getattr(engine, "engine", engine)
    assert isinstance(inner, InstanceStageEngine)
    frames, reference = frames_and_reference
    for frame, want in zip(frames, reference, strict=True):
        result = inner.infer_instances(frame, want.centroids)
        stage = Poses(result.points, result.point_scores, want.instance_scores, result.valid, want.centroids)
        assert_same_poses(stage, want, case.precision)
    with pytest.raises(EngineError, match=r"centroids must be .*\(2, 2\)"):
        inner.infer_instances(frames[0], np.zeros((3, 2), np.float32))


def test_fast_mode_refreshing_every_frame_is_the_full_pipeline(
    open_engine: tuple[Backend, Opener], frames_and_reference: tuple[list[np.ndarray], list[Poses]]
) -> None:
    case, open_ = open_engine
    engine = open_(FastModeOptions(enabled=True, refresh_every_frames=1))
    frames, reference = frames_and_reference
    for frame, want in zip(frames, reference, strict=True):
        assert_same_poses(engine.infer(frame), want, case.precision)
    assert getattr(engine, "counts", {}).get("instance stage only", 0) == 0
