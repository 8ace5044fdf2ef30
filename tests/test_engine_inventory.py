"""`rtpose backends`: what this machine can run and why "auto" picks what it picks. On this
machine for real (no driver; the real cuda-python, torch and ONNX Runtime), and on a GPU rig
made of the FAKES of cuda-python and TensorRT, where driver/wheel mismatches must be found and
their fixes named.
"""

from __future__ import annotations

import json
from pathlib import Path

import fake_cuda_runtime
import fake_tensorrt
import pytest

from rtpose.cli import main
from rtpose.engine import inventory as inventory_module
from rtpose.engine import options
from rtpose.engine.inventory import Inventory, take_inventory
from rtpose.engine.options import gpu_driver_present, module_available

NO_DRIVER = pytest.mark.skipif(gpu_driver_present(), reason="describes a machine without an NVIDIA driver")


def _component(inventory: Inventory, name: str) -> inventory_module.Component:
    return next(component for component in inventory.components if component.name == name)


@NO_DRIVER
def test_this_machine_is_described_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends", "--json", str(tmp_path / "backends.json")]) == 0
    printed = capsys.readouterr().out
    found = json.loads((tmp_path / "backends.json").read_text(encoding="utf-8"))
    components = {component["name"]: component for component in found["components"]}
    assert not components["NVIDIA driver"]["installed"]
    assert found["auto_backend"] == "onnxruntime" and "no NVIDIA driver" in found["auto_reason"]
    assert 'backend = "auto" picks onnxruntime' in printed
    runtime = components["ONNX Runtime"]
    assert runtime["installed"] and "CPUExecutionProvider" in runtime["details"][0]
    if module_available("cuda.bindings.runtime"):
        import cuda.bindings.runtime as cudart

        major_minor = cudart.cudaRuntimeGetVersion()[1]
        assert components["cuda-python"]["details"] == [
            f"built for CUDA {major_minor // 1000}.{major_minor % 1000 // 10}"
        ]
    if not module_available("tensorrt"):
        assert "pip install 'rtpose[gpu-cu13]'" in components["TensorRT"]["details"][0]
    if module_available("torch"):
        import torch

        assert components["torch"]["version"] == torch.__version__
    assert not any(component["problems"] for component in found["components"])


@pytest.fixture
def gpu_rig(monkeypatch: pytest.MonkeyPatch) -> fake_cuda_runtime.FakeCudaState:
    """A machine with a driver, TensorRT (cu13 wheels) and cuda-python 13: all fakes."""
    monkeypatch.setattr(inventory_module, "gpu_driver_present", lambda: True)
    monkeypatch.setattr(options, "gpu_driver_present", lambda: True)
    fake_tensorrt.install(monkeypatch)
    wheels = {
        "tensorrt": "10.13.0",
        "tensorrt-cu13": "10.13.0",
        "cuda-python": "13.4.4",
        "onnxruntime": "1.31",
    }
    monkeypatch.setattr(
        inventory_module,
        "distribution_version",
        lambda *names: next((wheels[n] for n in names if n in wheels), ""),
    )
    return fake_cuda_runtime.install(monkeypatch)


def test_a_healthy_gpu_rig_picks_tensorrt_and_names_the_gpu(gpu_rig: fake_cuda_runtime.FakeCudaState) -> None:
    found = take_inventory()
    assert found.auto_backend == "tensorrt"
    cuda = _component(found, "cuda-python")
    assert "GPU 0: NVIDIA H200 (sm 9.0)" in cuda.details
    assert "the driver supports CUDA up to 13.0" in cuda.details
    assert _component(found, "TensorRT").details == ["wheels: tensorrt-cu13"]
    assert not any(component.problems for component in found.components)


def test_a_cuda_12_driver_with_cuda_13_wheels_is_a_problem_with_its_fix(
    gpu_rig: fake_cuda_runtime.FakeCudaState,
) -> None:
    gpu_rig.driver_version = 12080
    found = take_inventory()
    [cuda_problem] = _component(found, "cuda-python").problems
    assert (
        "pip uninstall -y cuda-python cuda-bindings tensorrt-cu13 && pip install 'rtpose[gpu-cu12]'"
        in cuda_problem
    )
    [trt_problem] = _component(found, "TensorRT").problems
    assert "need a CUDA 13 driver, this one supports CUDA 12" in trt_problem
    assert (
        "pip uninstall -y cuda-python cuda-bindings tensorrt-cu13 && pip install 'rtpose[gpu-cu12]'"
        in trt_problem
    )
    printed = inventory_module.format_inventory(found)
    assert printed.count("PROBLEM:") == 2


def test_both_onnxruntime_wheels_installed_is_a_problem(
    gpu_rig: fake_cuda_runtime.FakeCudaState, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = {"onnxruntime": "1.31", "onnxruntime-gpu": "1.31"}
    monkeypatch.setattr(
        inventory_module,
        "distribution_version",
        lambda *names: next((wheels[n] for n in names if n in wheels), ""),
    )
    [problem] = _component(take_inventory(), "ONNX Runtime").problems
    assert "both onnxruntime and onnxruntime-gpu" in problem and "rtpose[onnx-gpu]" in problem


def test_a_driver_without_tensorrt_says_what_is_missing(
    gpu_rig: fake_cuda_runtime.FakeCudaState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "tensorrt", None)
    monkeypatch.setattr(inventory_module, "module_available", lambda name: name != "tensorrt")
    monkeypatch.setattr(options, "module_available", lambda name: name not in ("tensorrt", "torch"))
    found = take_inventory()
    assert found.auto_backend == "onnxruntime"
    assert found.auto_reason == "a driver is present but TensorRT not installed: ONNX Runtime"


def test_older_cuda_wheels_on_a_newer_driver_are_fine(
    gpu_rig: fake_cuda_runtime.FakeCudaState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CUDA 13 driver runs CUDA 12 builds: rtpose[gpu-cu12] there is not a problem."""
    gpu_rig.runtime_version = 12090
    wheels = {"tensorrt": "10.16", "tensorrt-cu12": "10.16", "cuda-python": "12.9.4"}
    monkeypatch.setattr(
        inventory_module,
        "distribution_version",
        lambda *names: next((wheels[n] for n in names if n in wheels), ""),
    )
    found = take_inventory()
    assert not _component(found, "TensorRT").problems and not _component(found, "cuda-python").problems
    assert found.auto_backend == "tensorrt" and "problems" not in found.auto_reason


def test_a_broken_part_is_a_problem_not_a_crash(
    gpu_rig: fake_cuda_runtime.FakeCudaState, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_import(name: str) -> object:
        raise OSError(f"lib{name}.so: cannot open shared object file")

    gpu_rig.devices.append(("NVIDIA RTX A6000", 8, 6))
    real_properties = fake_cuda_runtime.cudaGetDeviceProperties
    monkeypatch.setattr(
        fake_cuda_runtime,
        "cudaGetDeviceProperties",
        lambda device: (
            (fake_cuda_runtime.cudaError_t.cudaErrorInvalidDevice, None)
            if device == 1
            else real_properties(device)
        ),
    )
    monkeypatch.setattr(
        inventory_module.importlib, "import_module", _failing_for("onnxruntime", broken_import)
    )
    found = take_inventory()
    runtime = _component(found, "ONNX Runtime")
    assert runtime.problems == [
        "fails to load or answer: OSError: libonnxruntime.so: cannot open shared object file"
    ]
    cuda = _component(found, "cuda-python")
    assert "GPU 0: NVIDIA H200 (sm 9.0)" in cuda.details
    assert cuda.problems == ["GPU 1: CUDA cannot describe it (<cudaError_t.cudaErrorInvalidDevice: 101>)"]
    assert found.auto_reason.endswith("(fix the problems above first: loading may fail)")


def _failing_for(module: str, fail: object) -> object:
    import importlib

    real = importlib.import_module

    def import_module(name: str, package: str | None = None) -> object:
        if name == module:
            return fail(name)  # type: ignore[operator]
        return real(name, package)

    return import_module


def test_an_unwritable_json_is_an_error_after_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backends", "--json", str(tmp_path / "missing" / "backends.json")]) == 2
    captured = capsys.readouterr()
    assert 'backend = "auto" picks' in captured.out and "cannot write" in captured.err
