"""Backend choice ("auto"), ONNX Runtime providers and threads, config → EngineOptions, and
`rtpose bench engine`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

from rtpose.cli import main
from rtpose.core.config import parse_config
from rtpose.core.errors import ConfigError, EngineError
from rtpose.engine import load, options
from rtpose.engine.onnxruntime import OnnxRuntimeEngine, choose_providers, providers_on_device
from rtpose.engine.options import EngineOptions, FastModeOptions, choose_backend, engine_options


@pytest.fixture
def no_driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No NVIDIA driver files in any of the places looked at; returns a folder to add them to."""
    root = tmp_path / "system"
    (root / "System32").mkdir(parents=True)
    (root / "wsl").mkdir()
    monkeypatch.setattr(options, "NVIDIA_DRIVER_FILE", root / "proc-driver-nvidia-version")
    monkeypatch.setattr(options, "WSL_DRIVER_DIR", root / "wsl")
    monkeypatch.setenv("SYSTEMROOT", str(root))
    monkeypatch.setattr("ctypes.util.find_library", lambda name: None)
    return root


def test_auto_without_a_gpu_driver_is_onnxruntime(monkeypatch: pytest.MonkeyPatch, no_driver: Path) -> None:
    monkeypatch.setattr(options, "module_available", lambda name: True)  # even with TensorRT installed
    assert choose_backend("auto") == "onnxruntime"


@pytest.mark.parametrize(
    ("platform", "driver_file"),
    [
        ("linux", "proc-driver-nvidia-version"),
        ("linux", "wsl/libcuda.so.1.1"),  # WSL2: no /proc/driver/nvidia, the Windows driver's libcuda
        ("win32", "System32/nvcuda.dll"),
    ],
)
def test_the_gpu_driver_is_found_on_linux_wsl2_and_windows(
    no_driver: Path, platform: str, driver_file: str
) -> None:
    assert not options.gpu_driver_present(platform)
    (no_driver / driver_file).write_text("driver")
    assert options.gpu_driver_present(platform)
    other = "win32" if platform == "linux" else "linux"
    assert not options.gpu_driver_present(other)  # each platform looks in its own places


def test_windows_driver_on_the_dll_search_path(monkeypatch: pytest.MonkeyPatch, no_driver: Path) -> None:
    looked_up: list[str] = []
    monkeypatch.setattr("ctypes.util.find_library", lambda name: looked_up.append(name) or None)
    assert not options.gpu_driver_present("win32")
    monkeypatch.setattr("ctypes.util.find_library", lambda name: "C:\\Drivers\\nvcuda.dll")
    assert options.gpu_driver_present("win32")
    assert looked_up == ["nvcuda"]


def test_a_bare_cuda_namespace_package_is_not_cuda_python(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = {"tensorrt", "cuda"}  # e.g. another distribution's "cuda" namespace, no cuda-python
    monkeypatch.setattr(options, "module_available", lambda name: name in installed)
    monkeypatch.setattr(options, "gpu_driver_present", lambda: True)
    assert not options.cuda_python_available()
    assert choose_backend("auto") == "onnxruntime"
    installed.add("cuda.cudart")  # cuda-python before 12.6
    assert choose_backend("auto") == "tensorrt"
    installed.symmetric_difference_update({"cuda.cudart", "cuda.bindings.runtime"})
    assert choose_backend("auto") == "tensorrt"


def test_auto_prefers_tensorrt_when_it_and_a_gpu_are_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    driver = tmp_path / "version"
    driver.write_text("NVRM version: 550")
    monkeypatch.setattr(options, "NVIDIA_DRIVER_FILE", driver)
    monkeypatch.setattr(
        options, "module_available", lambda name: name in ("tensorrt", "cuda.bindings.runtime")
    )
    assert choose_backend("auto") == "tensorrt"
    monkeypatch.setattr(options, "module_available", lambda name: False)
    assert choose_backend("auto") == "onnxruntime"
    assert choose_backend("torch") == "torch"  # an explicit choice is kept


def test_unknown_backend_and_settings_are_refused() -> None:
    with pytest.raises(EngineError, match=r"unknown engine backend 'tensorflow'.*auto, onnxruntime, torch"):
        load("demo", "tensorflow")
    with pytest.raises(EngineError, match="threads must be at least 1"):
        EngineOptions(threads=0)
    with pytest.raises(EngineError, match=r"unknown ONNX Runtime providers \['rocm'\]"):
        EngineOptions(providers=("rocm",))
    with pytest.raises(EngineError, match=r"onnxruntime backend runs model\.onnx in fp32"):
        load("demo", "onnxruntime", options=EngineOptions(precision="fp16"))


def test_onnxruntime_providers_by_availability_or_explicit() -> None:
    assert choose_providers((), ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers((), available) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(("tensorrt",), available) == ["TensorrtExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(EngineError, match=r"no CUDAExecutionProvider.*onnxruntime-gpu"):
        choose_providers(("cuda",), ["CPUExecutionProvider"])


def test_onnxruntime_gpu_providers_are_told_the_configured_gpu() -> None:
    chosen = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers_on_device(chosen, 1) == [
        ("TensorrtExecutionProvider", {"device_id": "1"}),
        ("CUDAExecutionProvider", {"device_id": "1"}),
        "CPUExecutionProvider",
    ]


def test_onnxruntime_session_gets_the_configured_threads() -> None:
    engine = load("demo", "onnxruntime", options=EngineOptions(threads=2, providers=("cpu",)))
    assert isinstance(engine, OnnxRuntimeEngine)
    assert engine.providers == ["CPUExecutionProvider"]
    assert "2 intra-op thread(s), spinning off" in engine.describe()
    engine.close()


def test_config_model_section_becomes_engine_options(tmp_path: Path) -> None:
    config = parse_config(
        {
            "model": {
                "backend": "tensorrt",
                "threads": 2,
                "precision": "fp16",
                "cuda_graph": False,
                "onnxruntime_providers": ["cuda", "cpu"],
                "plan_cache": "plans",
                "gpu": 1,
                "fast_mode": {"enabled": True, "refresh_every_frames": 5, "min_instance_score": 0.4},
            }
        }
    )
    made = engine_options(config.model, tmp_path)
    assert made.threads == 2 and made.precision == "fp16" and not made.cuda_graph
    assert made.providers == ("cuda", "cpu") and made.plan_cache_dir == tmp_path / "plans"
    assert made.device == 1 and parse_config({}).model.gpu == 0
    assert made.fast_mode.enabled and made.fast_mode.refresh_every_frames == 5
    assert parse_config({}).model.backend == "auto" and not parse_config({}).model.fast_mode.enabled
    with pytest.raises(ConfigError, match=r"model\.backend"):
        parse_config({"model": {"backend": "tflite"}})


def test_bench_engine_reports_latency_and_the_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "engine",
            "demo",
            "--backend",
            "onnxruntime",
            "--frames",
            "20",
            "--warmup",
            "2",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "latency ms: p50" in text and "p99" in text and "machine:" in text and "onnxruntime" in text
    result = json.loads(out.read_text())
    assert result["frames"] == 20 and result["backend"] == "onnxruntime"
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"]
    assert result["package"]["frame_shape"] == [256, 256, 1] and result["throughput_fps"] > 0


def test_bench_engine_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "engine", str(tmp_path / "missing"), "--backend", "onnxruntime"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["bench", "engine", "demo", "--frames", "0"]) == 2


def test_bench_engine_fast_mode_counts_only_the_timed_frames() -> None:
    from rtpose.bench.engine import bench_engine

    options = EngineOptions(fast_mode=FastModeOptions(enabled=True, refresh_every_frames=5))
    result = bench_engine("demo", "onnxruntime", options, frames=12, warmup=7)
    counts = result["fast_mode_counts"]
    assert sum(counts.values()) == 12  # not 19: the warm-up frames are left out
    assert "full: first frame" not in counts  # that was a warm-up frame
