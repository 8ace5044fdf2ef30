"""What this machine can run: the NVIDIA driver, cuda-python, TensorRT, torch and ONNX Runtime,
their versions, what is wrong with them, and which backend ``backend = "auto"`` picks and why
(``rtpose backends``). For setting up a GPU rig: each problem comes with its fix.

Imports are looked up first (importlib.util.find_spec) and made only for what is installed
(TensorRT is never imported); without a driver CUDA is asked only for versions, which works
anywhere. A part that fails to import or answer is reported as a problem of that part, never a
crash: a broken install is what this command is for.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from rtpose.engine.cuda_runtime import cuda_version_text, device_name, driver_and_runtime_versions
from rtpose.engine.options import (
    CUDA_PYTHON_MODULES,
    GPU_INSTALL_HINT,
    explain_backend_choice,
    gpu_driver_present,
    gpu_reinstall_hint,
    module_available,
)


@dataclass
class Component:
    """One part the backends need: installed or not, its version, details, problems with fixes."""

    name: str
    installed: bool
    version: str = ""
    details: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Inventory:
    components: list[Component]
    auto_backend: str
    auto_reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def distribution_version(*names: str) -> str:
    """The version of the first of ``names`` installed as a distribution ("" when none is)."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


def installed_distributions(*names: str) -> list[str]:
    return [name for name in names if distribution_version(name)]


def driver_component(driver: bool) -> Component:
    component = Component("NVIDIA driver", driver)
    if not driver:
        component.details.append("not found (no GPU backend can run; ONNX Runtime and torch run on the CPU)")
    return component


def cuda_python_component(driver: bool) -> tuple[Component, int]:
    """cuda-python, and the CUDA major version the driver supports (0: unknown or no driver)."""
    module_name = next((name for name in CUDA_PYTHON_MODULES if module_available(name)), None)
    component = Component("cuda-python", module_name is not None)
    if module_name is None:
        component.details.append(f"not installed: the tensorrt backend needs it ({GPU_INSTALL_HINT})")
        return component, 0
    component.version = distribution_version("cuda-python", "cuda-bindings")
    cudart = importlib.import_module(module_name)
    driver_version, runtime_version = driver_and_runtime_versions(cudart)
    component.details.append(f"built for CUDA {cuda_version_text(runtime_version)}")
    if not driver:
        return component, 0
    component.details.append(f"the driver supports CUDA up to {cuda_version_text(driver_version)}")
    if driver_version // 1000 < runtime_version // 1000:
        major = driver_version // 1000
        component.problems.append(
            f"cuda-python is for a newer CUDA than the driver supports: "
            f"{gpu_reinstall_hint(major, runtime_version // 1000)} (or update the driver)"
        )
        return component, major
    count = cudart.cudaGetDeviceCount()
    if count[0] == cudart.cudaError_t.cudaSuccess:
        for device in range(int(count[1])):
            error, properties = cudart.cudaGetDeviceProperties(device)
            if error != cudart.cudaError_t.cudaSuccess:
                component.problems.append(f"GPU {device}: CUDA cannot describe it ({error!r})")
                continue
            component.details.append(
                f"GPU {device}: {device_name(properties)} (sm {properties.major}.{properties.minor})"
            )
    else:
        component.problems.append(f"CUDA finds no usable GPU ({count[0]!r})")
    return component, driver_version // 1000


def tensorrt_component(driver_major: int) -> Component:
    flavours = installed_distributions("tensorrt-cu12", "tensorrt-cu13", "tensorrt-cu11")
    component = Component("TensorRT", module_available("tensorrt"))
    if not component.installed:
        component.details.append(f"not installed: the tensorrt backend needs it ({GPU_INSTALL_HINT})")
        return component
    component.version = distribution_version("tensorrt", *flavours) or "unknown"
    if flavours:
        component.details.append(f"wheels: {', '.join(flavours)}")
    built_for = [int(flavour.rsplit("cu", 1)[1]) for flavour in flavours]
    if driver_major and built_for and driver_major < min(built_for):  # newer drivers run older CUDA
        component.problems.append(
            f"these TensorRT wheels need a CUDA {min(built_for)} driver, this one supports CUDA "
            f"{driver_major}: {gpu_reinstall_hint(driver_major, min(built_for))}"
        )
    if len(flavours) > 1:
        component.problems.append(
            f"more than one TensorRT wheel is installed ({', '.join(flavours)}); keep one"
        )
    return component


def torch_component(driver: bool) -> Component:
    component = Component("torch", module_available("torch"))
    if not component.installed:
        component.details.append("not installed (pip install torch==2.13.0 && pip install 'rtpose[export]')")
        return component
    torch = importlib.import_module("torch")
    component.version = str(torch.__version__)
    cuda_build = getattr(torch.version, "cuda", None)
    component.details.append(f"CUDA build {cuda_build}" if cuda_build else "CPU build")
    if driver and cuda_build:
        if torch.cuda.is_available():
            component.details.append(f"sees {torch.cuda.get_device_name(0)}")
        else:
            component.problems.append(
                f"this torch (CUDA {cuda_build}) sees no GPU: the driver may be too old for it"
            )
    elif driver:
        component.details.append("a CUDA build of torch 2.13 would run the torch backend on the GPU")
    return component


def onnxruntime_component(driver: bool) -> Component:
    wheels = installed_distributions("onnxruntime", "onnxruntime-gpu")
    component = Component("ONNX Runtime", module_available("onnxruntime"))
    if not component.installed:
        component.details.append("not installed (pip install 'rtpose[onnx]')")
        return component
    onnxruntime = importlib.import_module("onnxruntime")
    component.version = str(onnxruntime.__version__)
    component.details.append(f"providers: {', '.join(onnxruntime.get_available_providers())}")
    if len(wheels) > 1:
        component.problems.append(
            "both onnxruntime and onnxruntime-gpu are installed and overwrite each other: pip uninstall -y "
            "onnxruntime onnxruntime-gpu && pip install 'rtpose[onnx]' (CPU) or 'rtpose[onnx-gpu]' (GPU)"
        )
    return component


def failed(name: str, error: Exception) -> Component:
    """A part whose import or query raised: installed (something is there) but broken."""
    return Component(name, True, problems=[f"fails to load or answer: {type(error).__name__}: {error}"])


def take_inventory() -> Inventory:
    driver = gpu_driver_present()
    try:
        cuda_python, driver_major = cuda_python_component(driver)
    except Exception as error:
        cuda_python, driver_major = failed("cuda-python", error), 0
    components = [driver_component(driver), cuda_python]
    parts: list[tuple[str, Callable[[], Component]]] = [
        ("TensorRT", partial(tensorrt_component, driver_major)),
        ("torch", partial(torch_component, driver)),
        ("ONNX Runtime", partial(onnxruntime_component, driver)),
    ]
    for name, describe in parts:
        try:
            components.append(describe())
        except Exception as error:
            components.append(failed(name, error))
    try:
        backend, reason = explain_backend_choice("auto")
    except Exception as error:  # e.g. a torch that fails to import
        return Inventory(components, "none", f"choosing failed: {type(error).__name__}: {error}")
    if any(component.problems for component in components):
        reason += " (fix the problems above first: loading may fail)"
    return Inventory(components, backend, reason)


def format_inventory(inventory: Inventory) -> str:
    lines = []
    for component in inventory.components:
        state = component.version or ("found" if component.installed else "missing")
        lines.append(f"{component.name:<14} {state}")
        lines.extend(f"{'':<14}   {detail}" for detail in component.details)
        lines.extend(f"{'':<14}   PROBLEM: {problem}" for problem in component.problems)
    lines.append(f'backend = "auto" picks {inventory.auto_backend}: {inventory.auto_reason}')
    return "\n".join(lines)
