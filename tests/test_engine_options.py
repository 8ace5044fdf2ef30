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
from rtpose.engine.onnxruntime import OnnxRuntimeEngine, choose_providers
from rtpose.engine.options import EngineOptions, choose_backend, engine_options


def test_auto_without_a_gpu_driver_is_onnxruntime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(options, "NVIDIA_DRIVER_FILE", tmp_path / "absent")
    monkeypatch.setattr(options, "module_available", lambda name: True)  # even with TensorRT installed
    assert choose_backend("auto") == "onnxruntime"


def test_auto_prefers_tensorrt_when_it_and_a_gpu_are_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    driver = tmp_path / "version"
    driver.write_text("NVRM version: 550")
    monkeypatch.setattr(options, "NVIDIA_DRIVER_FILE", driver)
    monkeypatch.setattr(options, "module_available", lambda name: name in ("tensorrt", "cuda"))
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
                "fast_mode": {"enabled": True, "refresh_every_frames": 5, "min_instance_score": 0.4},
            }
        }
    )
    made = engine_options(config.model, tmp_path)
    assert made.threads == 2 and made.precision == "fp16" and not made.cuda_graph
    assert made.providers == ("cuda", "cpu") and made.plan_cache_dir == tmp_path / "plans"
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
