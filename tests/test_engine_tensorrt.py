"""The TensorRT backend without a GPU: error messages when TensorRT, cuda-python or a GPU is
missing, the plan cache (keys, stale, foreign and corrupt plans), tensor validation, and the
buffer, stream and CUDA-graph logic, run end to end on FAKES of tensorrt and cuda-python
(tests/fake_tensorrt.py, tests/fake_cuda_runtime.py) whose "engine" executes the ONNX graph in
ONNX Runtime. What only a real GPU can show is in tests/test_engine_contract.py (marked gpu).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

import fake_cuda_runtime
import fake_tensorrt
from conftest import demo_test_config

from rtpose.camera.synthetic import SyntheticCamera
from rtpose.core.config import SyntheticCameraConfig
from rtpose.core.errors import CameraError, EngineError, MissingExtraError, ModelPackageError
from rtpose.core.model_metadata import read_metadata
from rtpose.engine import DEMO_MODEL_DIR, load, plan_cache
from rtpose.engine.options import EngineOptions, FastModeOptions
from rtpose.engine.plan_cache import PlanCache, PlanKey
from rtpose.engine.tensorrt import TensorRtEngine
from rtpose.session import PartOverrides, RunOptions, run

FRAME = np.random.default_rng(0).integers(0, 40, (256, 256, 1), dtype=np.uint8)


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> fake_cuda_runtime.FakeCudaState:
    fake_tensorrt.install(monkeypatch)
    return fake_cuda_runtime.install(monkeypatch)


def _engine(tmp_path: Path, messages: list[str] | None = None, **settings: object) -> TensorRtEngine:
    options = EngineOptions(plan_cache_dir=tmp_path / "plans", **settings)  # type: ignore[arg-type]
    log = messages if messages is not None else []
    return TensorRtEngine(
        DEMO_MODEL_DIR,
        read_metadata(DEMO_MODEL_DIR),
        options,
        instance_stage=options.fast_mode.enabled,
        report=log.append,
    )


def _demo_frame() -> np.ndarray:
    from rtpose.camera.fly_scene import FlyScene

    frame = np.empty((256, 256, 1), np.uint8)
    FlyScene(frame_size=(256, 256), seed=5, fps=30.0).render_frame(40, frame)
    return frame


def test_missing_tensorrt_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingExtraError, match=r"tensorrt.*pip install"):
        load("demo", "tensorrt")


def test_missing_cuda_python_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tensorrt.install(monkeypatch)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", None)
    monkeypatch.setitem(sys.modules, "cuda.cudart", None)
    with pytest.raises(MissingExtraError, match=r"cuda-python.*rtpose\[gpu-cu13\].*rtpose\[gpu-cu12\]"):
        load("demo", "tensorrt")


def test_no_gpu_says_which_backend_to_use(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tensorrt.install(monkeypatch)
    fake_cuda_runtime.install(monkeypatch, devices=[])
    with pytest.raises(EngineError, match=r"no usable CUDA GPU.*cudaErrorNoDevice.*onnxruntime"):
        load("demo", "tensorrt")


def test_a_driver_older_than_cuda_python_says_which_packages_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_tensorrt.install(monkeypatch)
    state = fake_cuda_runtime.install(monkeypatch, driver_version=12040)
    assert state.runtime_version // 1000 == 13
    with pytest.raises(EngineError) as raised:
        load("demo", "tensorrt")
    message = str(raised.value)
    assert "the NVIDIA driver supports CUDA up to 12.4" in message
    assert "built for CUDA 13.4" in message
    assert (
        "pip uninstall -y cuda-python cuda-bindings tensorrt-cu13 && pip install 'rtpose[gpu-cu12]'"
        in message
    )


def test_tensorrt_gives_the_onnx_graphs_poses(fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path) -> None:
    frame = _demo_frame()
    reference = load("demo", "onnxruntime").infer(frame)
    engine = _engine(tmp_path)
    poses = engine.infer(frame)
    assert poses.valid.sum() == 2
    np.testing.assert_array_equal(poses.valid, reference.valid)
    np.testing.assert_allclose(poses.points, reference.points, atol=1e-4)
    np.testing.assert_allclose(poses.point_scores, reference.point_scores, atol=1e-5)
    engine.close()


def test_frames_replay_a_cuda_graph_and_upload_from_the_callers_buffer(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    engine = _engine(tmp_path)
    executions = fake_tensorrt.calls["execute_async_v3"]
    assert executions == 2  # one ordinary run before capture, one captured
    first = engine.infer(_demo_frame())
    second = engine.infer(np.full((256, 256, 1), 190, np.uint8))  # the arena without flies
    assert fake_tensorrt.calls["execute_async_v3"] == executions  # replayed, not enqueued again
    assert fakes.calls["cudaGraphLaunch"] == 2
    assert first.valid.sum() == 2 and second.valid.sum() == 0  # each frame's own upload was used
    assert not np.shares_memory(first.points, second.points)  # poses own their arrays


def test_without_cuda_graph_each_frame_enqueues(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    engine = _engine(tmp_path, cuda_graph=False)
    before = fake_tensorrt.calls["execute_async_v3"]
    engine.infer(_demo_frame())
    assert fake_tensorrt.calls["execute_async_v3"] == before + 1
    assert fakes.calls["cudaGraphLaunch"] == 0


def test_pinned_frame_buffer_feeds_the_engine(fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    slot = engine.pinned_frame_buffer()
    assert slot.shape == (256, 256, 1) and slot.dtype == np.uint8
    assert slot.ctypes.data in fakes.host_buffers  # page-locked (cudaMallocHost) memory
    slot[...] = _demo_frame()
    assert engine.infer(slot).valid.sum() == 2


def test_close_frees_every_buffer(fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path) -> None:
    engine = _engine(tmp_path, fast_mode=FastModeOptions(enabled=True))
    engine.pinned_frame_buffer()
    assert fakes.buffers and fakes.host_buffers
    engine.close()
    engine.close()
    assert not fakes.buffers and not fakes.host_buffers and not fakes.graphs
    with pytest.raises(EngineError, match="closed"):
        engine.infer(FRAME)


def test_plan_is_cached_and_reused(fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path) -> None:
    messages: list[str] = []
    _engine(tmp_path, messages).close()
    assert fake_tensorrt.calls["build_serialized_network"] == 1
    assert any("building a TensorRT engine" in m and "NVIDIA H200" in m for m in messages)
    assert any("Building engine (2 steps)" in m for m in messages)  # progress from the monitor
    assert any(m.startswith("plan cached at ") and str(tmp_path / "plans") in m for m in messages)
    messages.clear()
    _engine(tmp_path, messages).close()
    assert fake_tensorrt.calls["build_serialized_network"] == 1
    assert any(m.startswith("using the cached plan") for m in messages)


def test_another_gpu_or_tensorrt_version_builds_its_own_plan(
    monkeypatch: pytest.MonkeyPatch, fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    _engine(tmp_path).close()
    fake_cuda_runtime.reset(devices=[("NVIDIA RTX A6000", 8, 6)])
    _engine(tmp_path).close()
    fake_tensorrt.install(monkeypatch, version="11.0.0")
    fake_cuda_runtime.reset()
    _engine(tmp_path).close()
    assert fake_tensorrt.calls["build_serialized_network"] == 1  # counted since the re-install
    plans = sorted((tmp_path / "plans").rglob("*.plan"))
    assert len(plans) == 3
    records = [json.loads(path.with_suffix(".json").read_text())["key"] for path in plans]
    assert {(r["gpu_name"], r["compute_capability"], r["tensorrt_version"]) for r in records} == {
        ("NVIDIA H200", "9.0", "10.13.0"),
        ("NVIDIA RTX A6000", "8.6", "10.13.0"),
        ("NVIDIA H200", "9.0", "11.0.0"),
    }


def _key(**changes: str) -> PlanKey:
    fields = dict(
        package_name="pkg",
        graph="full",
        onnx_sha256="a" * 64,
        precision="fp32",
        gpu_name="NVIDIA H200",
        compute_capability="9.0",
        tensorrt_version="10.13.0",
    )
    fields.update(changes)
    return PlanKey(**fields)


@pytest.mark.parametrize(
    "change", ["onnx_sha256", "precision", "gpu_name", "compute_capability", "tensorrt_version", "graph"]
)
def test_every_key_field_gives_another_plan(change: str) -> None:
    cache = PlanCache(Path("/nonexistent"))
    assert cache.plan_path(_key()) != cache.plan_path(_key(**{change: "other"}))


def test_stale_foreign_and_corrupt_plans_are_not_used(tmp_path: Path) -> None:
    cache = PlanCache(tmp_path)
    key = _key()
    path = cache.store(key, b"plan bytes")
    assert cache.lookup(key).plan == b"plan bytes"
    path.write_bytes(b"plan bytez")
    assert cache.lookup(key).plan is None and "corrupt" in cache.lookup(key).reason
    cache.store(key, b"plan bytes")
    record = json.loads(path.with_suffix(".json").read_text())
    record["key"]["onnx_sha256"] = "b" * 64
    path.with_suffix(".json").write_text(json.dumps(record))
    assert cache.lookup(key).plan is None and "foreign" in cache.lookup(key).reason
    path.with_suffix(".json").unlink()
    assert cache.lookup(key).plan is None and "stale" in cache.lookup(key).reason
    assert cache.lookup(_key(gpu_name="x")).reason == "no cached plan"


def test_a_bad_cached_plan_is_rebuilt_with_the_reason_said(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    _engine(tmp_path).close()
    plan = next((tmp_path / "plans").rglob("full-*.plan"))
    plan.write_bytes(plan.read_bytes() + b"x")
    messages: list[str] = []
    _engine(tmp_path, messages).infer(FRAME)
    assert any("not using" in m and "corrupt" in m and "rebuilding" in m for m in messages)
    assert fake_tensorrt.calls["build_serialized_network"] == 2


def test_a_plan_that_does_not_deserialize_is_rebuilt(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    engine = _engine(tmp_path)
    engine.close()
    cache, path = PlanCache(tmp_path / "plans"), engine.plan_paths[0]
    key = PlanKey(**json.loads(path.with_suffix(".json").read_text())["key"])
    cache.store(key, b"not a plan")  # consistent record, but TensorRT refuses the bytes
    messages: list[str] = []
    _engine(tmp_path, messages).close()
    assert any("does not load" in m and "rebuilding" in m for m in messages)


def test_engine_tensors_are_checked_against_the_metadata(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    metadata = read_metadata(DEMO_MODEL_DIR)
    wrong = metadata.model_copy(update={"max_instances": 3})
    options = EngineOptions(plan_cache_dir=tmp_path)
    with pytest.raises(
        ModelPackageError, match=r"output 'points' should be float32 \[3, 5, 2\].*\[2, 5, 2\]"
    ):
        TensorRtEngine(DEMO_MODEL_DIR, wrong, options, report=lambda message: None)


def test_bad_frames_and_fp16_without_a_graph_are_refused(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    engine = _engine(tmp_path)
    with pytest.raises(EngineError, match=r"uint8 256×256×1.*float32"):
        engine.infer(FRAME.astype(np.float32))  # type: ignore[arg-type]
    with pytest.raises(EngineError, match=r"256×256×1.*got 128×256×1"):
        engine.infer(FRAME[:128])
    with pytest.raises(ModelPackageError, match=r"no fp16 graph.*--fp16"):
        _engine(tmp_path, precision="fp16")


def test_fast_mode_runs_on_tensorrt(fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path) -> None:
    options = EngineOptions(plan_cache_dir=tmp_path, fast_mode=FastModeOptions(enabled=True))
    engine = load("demo", "tensorrt", options=options)
    frame = _demo_frame()
    first, second = engine.infer(frame), engine.infer(frame)
    assert getattr(engine, "counts", {}) == {"full: first frame": 1, "instance stage only": 1}
    np.testing.assert_allclose(second.points, first.points, atol=1.5)  # crops moved to the found anchors
    engine.close()


def _nothing_held(state: fake_cuda_runtime.FakeCudaState) -> bool:
    return not state.buffers and not state.host_buffers and not state.graphs and not state.streams


def test_out_of_gpu_memory_is_raised_not_rebuilt_and_frees_what_was_allocated(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    _engine(tmp_path).close()  # the plan is cached
    fakes.fail_after["cudaMalloc"] = (3, fake_cuda_runtime.cudaError_t.cudaErrorMemoryAllocation)
    messages: list[str] = []
    with pytest.raises(EngineError, match=r"cudaMalloc failed: cudaErrorMemoryAllocation"):
        _engine(tmp_path, messages)
    assert fake_tensorrt.calls["build_serialized_network"] == 1  # a rebuild would not help
    assert not any("rebuilding" in m for m in messages)
    assert _nothing_held(fakes)  # the three buffers and the stream made before the failure


def test_a_failed_instance_stage_releases_the_full_graph(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    full_buffers = 6  # frame + 5 outputs; the instance stage's first allocation then fails
    fakes.fail_after["cudaMalloc"] = (full_buffers, fake_cuda_runtime.cudaError_t.cudaErrorMemoryAllocation)
    with pytest.raises(EngineError, match="cudaMalloc failed"):
        _engine(tmp_path, fast_mode=FastModeOptions(enabled=True))
    assert _nothing_held(fakes)


def test_a_plan_that_cannot_be_captured_runs_without_a_cuda_graph(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    fake_tensorrt.refuse_capture = True  # and the capture's end then fails too, as in CUDA
    messages: list[str] = []
    engine = _engine(tmp_path, messages)
    notes = [m for m in messages if "CUDA graph capture failed" in m]
    assert len(notes) == 1 and "execute_async_v3 failed" in notes[0]  # the cause, not the end's error
    assert "running without a CUDA graph" in notes[0]
    assert fake_tensorrt.calls["build_serialized_network"] == 1
    reference = load("demo", "onnxruntime").infer(_demo_frame())
    np.testing.assert_allclose(engine.infer(_demo_frame()).points, reference.points, atol=1e-4)
    assert fakes.calls["cudaGraphLaunch"] == 0
    assert fakes.last_error == fake_cuda_runtime.cudaError_t.cudaSuccess  # the capture's error cleared
    engine.close()
    assert _nothing_held(fakes)


@pytest.mark.parametrize("version", ["10.13.0", "11.4.0"])
def test_engines_are_strongly_typed_without_tf32_on_tensorrt_10_and_11(
    version: str, monkeypatch: pytest.MonkeyPatch, fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    """TensorRT 10 needs the STRONGLY_TYPED creation flag (bit 1); 11 renumbered it (bit 0,
    ignored) and removed EXPLICIT_BATCH: the flag is looked up by name on both."""
    fake_tensorrt.install(monkeypatch, version=version)
    engine = _engine(tmp_path)
    assert fake_tensorrt.last_build == {"strongly_typed": True, "tf32": False}
    assert engine.infer(_demo_frame()).valid.sum() == 2
    engine.close()


def test_frames_on_another_thread_run_on_the_engines_gpu(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    """CUDA's current device is per thread: a thread other than the loading one (replay,
    embedding) must select the engine's GPU itself, or TensorRT's kernel launches on the engine's
    stream fail."""
    fake_cuda_runtime.reset(devices=[("NVIDIA H200", 9, 0), ("NVIDIA H200", 9, 0)])
    engine = _engine(tmp_path, device=1, cuda_graph=False)  # every frame launches TensorRT's kernels
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(engine.infer(_demo_frame())))
    worker.start()
    worker.join()
    assert len(results) == 1 and results[0].valid.sum() == 2  # type: ignore[attr-defined]
    engine.close()


def test_an_engine_tensor_without_a_numpy_type_is_a_package_error(
    monkeypatch: pytest.MonkeyPatch, fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    real_dtype = fake_tensorrt.ICudaEngine.get_tensor_dtype

    def bfloat16_points(engine: fake_tensorrt.ICudaEngine, name: str) -> fake_tensorrt.DataType:
        return fake_tensorrt.DataType.BF16 if name == "points" else real_dtype(engine, name)

    monkeypatch.setattr(fake_tensorrt.ICudaEngine, "get_tensor_dtype", bfloat16_points)
    with pytest.raises(ModelPackageError, match=r"output 'points' should be float32 .*BF16.*re-export"):
        _engine(tmp_path)
    assert _nothing_held(fakes)


def test_a_graph_that_does_not_instantiate_is_freed_and_frames_still_run(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    fakes.fail_after["cudaGraphInstantiate"] = (0, fake_cuda_runtime.cudaError_t.cudaErrorInvalidValue)
    messages: list[str] = []
    engine = _engine(tmp_path, messages)
    assert any("CUDA graph capture failed" in m and "cudaGraphInstantiate" in m for m in messages)
    assert not fakes.graphs  # the captured graph was destroyed, not leaked
    assert engine.infer(_demo_frame()).valid.sum() == 2
    engine.close()
    assert _nothing_held(fakes)


def _read_only(folder: Path) -> None:
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root, or a file system that ignores the mode
        folder.chmod(0o755)
        pytest.skip("chmod does not make a folder read-only here")


def test_a_read_only_plan_cache_warns_and_uses_the_plan_from_memory(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    cache = tmp_path / "plans"
    cache.mkdir()
    _read_only(cache)
    messages: list[str] = []
    try:
        engine = _engine(tmp_path, messages)
        assert engine.infer(_demo_frame()).valid.sum() == 2
        engine.close()
    finally:
        cache.chmod(0o755)
    assert any("cannot cache the plan" in m and "using it from memory" in m for m in messages)
    assert not list(cache.rglob("*"))  # no partial files left behind
    assert engine.plan_paths == []


def test_a_plan_locked_by_another_process_warns_and_leaves_no_partial_file(
    monkeypatch: pytest.MonkeyPatch, fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    def locked(source: object, target: object) -> None:  # Windows: the target is open elsewhere
        raise PermissionError(13, "The process cannot access the file", str(target))

    monkeypatch.setattr(plan_cache.os, "replace", locked)
    messages: list[str] = []
    engine = _engine(tmp_path, messages)
    assert any("cannot cache the plan" in m and "cannot access" in m for m in messages)
    assert engine.infer(_demo_frame()).valid.sum() == 2
    assert not [path for path in (tmp_path / "plans").rglob("*") if path.is_file()]
    engine.close()


def test_an_unreadable_cached_plan_is_rebuilt_not_an_error(
    monkeypatch: pytest.MonkeyPatch, fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    _engine(tmp_path).close()
    read_bytes = Path.read_bytes

    def unreadable_plans(path: Path) -> bytes:
        if path.suffix == ".plan":
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", unreadable_plans)
    messages: list[str] = []
    engine = _engine(tmp_path, messages)
    assert any("cannot be read" in m and "Permission denied" in m and "rebuilding" in m for m in messages)
    assert fake_tensorrt.calls["build_serialized_network"] == 2
    engine.close()


def test_a_run_on_tensorrt_fills_pinned_ring_slots_and_uploads_every_frame_from_them(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    """The whole loop on the tensorrt backend (fakes): the frame ring is made of the engine's
    pinned buffers, the camera writes into them and every frame is uploaded straight from them."""
    config = demo_test_config(model={"backend": "tensorrt", "plan_cache": str(tmp_path / "plans")})
    result = run(config, RunOptions(out=tmp_path / "run", seconds=1.5, show_status=False))
    assert result.exit_code == 0, result.error
    processed = result.summary["frames_processed"]
    assert processed > 30
    assert fakes.calls["upload from pageable memory"] == 0
    assert fakes.calls["upload from pinned memory"] == processed
    assert _nothing_held(fakes)  # the ring's pinned buffers were freed with the engine


def test_a_ring_that_cannot_be_pinned_falls_back_to_ordinary_memory(
    monkeypatch: pytest.MonkeyPatch,
    fakes: fake_cuda_runtime.FakeCudaState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def out_of_pinned_memory(engine: TensorRtEngine) -> np.ndarray:
        raise EngineError("CUDA cudaMallocHost failed: cudaErrorMemoryAllocation")

    monkeypatch.setattr(TensorRtEngine, "pinned_frame_buffer", out_of_pinned_memory)
    config = demo_test_config(model={"backend": "tensorrt", "plan_cache": str(tmp_path / "plans")})
    result = run(config, RunOptions(out=tmp_path / "run", seconds=1.0, show_status=False))
    assert result.exit_code == 0, result.error
    assert "frame buffers in ordinary memory" in capsys.readouterr().err
    assert fakes.calls["upload from pageable memory"] == result.summary["frames_processed"] > 10
    assert _nothing_held(fakes)


class StuckCamera:
    """The synthetic camera, except that its grab never returns after ``frames`` frames (a
    driver hang): the session cannot stop the grab thread."""

    def __init__(self, frames: int) -> None:
        self._camera = SyntheticCamera(SyntheticCameraConfig())
        self.frame_shape, self.nominal_fps = self._camera.frame_shape, self._camera.nominal_fps
        self._frames = frames
        self.release = threading.Event()

    def start(self) -> None:
        self._camera.start()

    def grab_into(self, out: np.ndarray, timeout_s: float) -> tuple[int, int | None]:
        if self._frames == 0:
            self.release.wait()
            raise CameraError("released by the test")
        self._frames -= 1
        return self._camera.grab_into(out, timeout_s)

    def stop(self) -> None:
        self._camera.stop()

    def close(self) -> None:
        self._camera.close()


def test_a_stuck_grab_thread_keeps_the_engine_and_its_pinned_ring_alive(
    fakes: fake_cuda_runtime.FakeCudaState, tmp_path: Path
) -> None:
    """Closing the engine would free the pinned buffers the hung grab thread may still write
    into: the session leaves it open, says so, and still turns the outputs off."""
    camera = StuckCamera(frames=20)
    config = demo_test_config(model={"backend": "tensorrt", "plan_cache": str(tmp_path / "plans")})
    overrides = PartOverrides(camera=camera)
    try:
        result = run(
            config, RunOptions(out=tmp_path / "run", seconds=1.0, show_status=False, overrides=overrides)
        )
        errors = result.summary["cleanup_errors"]
        assert "engine: left open, its frame buffers are still the grab thread's" in errors
        assert any("grab thread did not return" in error for error in errors)
        assert result.summary["outputs_off_at_exit"] is True
        assert fakes.host_buffers  # the ring's pinned buffers still exist
    finally:
        camera.release.set()
