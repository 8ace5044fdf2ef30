"""The tensorrt backend's CUDA calls against the REAL cuda-python (installed by the test extras)
on a machine without an NVIDIA driver: every call it makes exists with the arguments it passes,
failures come back as errors naming the call and CUDA's error, a missing or too old driver is
explained, and the fake (tests/fake_cuda_runtime.py) has the real module's names, signatures and
error codes, so that the tests that run on it mean something. The tests of CUDA's answers
without a driver are skipped on a GPU machine; tests/test_engine_contract.py covers it there.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtpose.engine import cuda_runtime, inventory
from rtpose.engine.options import gpu_driver_present

cudart = pytest.importorskip("cuda.bindings.runtime")
NO_DRIVER = pytest.mark.skipif(
    gpu_driver_present(), reason="checks cuda-python's answers on a machine without an NVIDIA driver"
)

import fake_cuda_runtime  # noqa: E402  (after the skip: it stands in for the module imported above)
import fake_tensorrt  # noqa: E402

from rtpose.core.errors import EngineError  # noqa: E402
from rtpose.engine import load  # noqa: E402


def cudart_names_used_by_the_backend() -> set[tuple[str, ...]]:
    """Every ``cudart.a.b`` chain (``self.cudart`` or ``cudart``) in the modules that call CUDA:
    rtpose/engine/cuda_runtime.py and rtpose/engine/inventory.py (``rtpose backends``)."""
    chains: set[tuple[str, ...]] = set()
    nodes: list[ast.AST] = [
        node
        for module in (cuda_runtime, inventory)
        for node in ast.walk(ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8")))
    ]
    for node in nodes:
        parts: list[str] = []
        current: ast.expr = node  # type: ignore[assignment]
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        rooted = (isinstance(current, ast.Name) and current.id == "cudart") or (
            parts and parts[-1] == "cudart" and isinstance(current, ast.Name) and current.id == "self"
        )
        if not rooted:
            continue
        if parts and parts[-1] == "cudart":
            parts.pop()
        if parts:
            chains.add(tuple(reversed(parts)))
    return chains


def resolve(module: Any, chain: tuple[str, ...]) -> Any:
    value = module
    for name in chain:
        value = getattr(value, name)
    return value


def test_the_backend_uses_the_calls_it_is_meant_to() -> None:
    """The chain finder itself: it must see the calls, or the tests below check nothing."""
    chains = cudart_names_used_by_the_backend()
    for expected in [
        ("cudaMemcpyAsync",),
        ("cudaGraphInstantiate",),
        ("cudaDriverGetVersion",),
        ("cudaGetDeviceProperties",),  # from inventory.py
        ("cudaMemcpyKind", "cudaMemcpyHostToDevice"),
        ("cudaError_t", "cudaSuccess"),
    ]:
        assert expected in chains
    assert len(chains) >= 25


def test_every_name_the_backend_uses_exists_in_cuda_python_and_in_the_fake_alike() -> None:
    problems = []
    for chain in sorted(cudart_names_used_by_the_backend()):
        dotted = ".".join(chain)
        try:
            real = resolve(cudart, chain)
        except AttributeError:
            problems.append(f"cuda-python has no {dotted}")
            continue
        try:
            fake = resolve(fake_cuda_runtime, chain)
        except AttributeError:
            problems.append(f"the fake has no {dotted}")
            continue
        if callable(real) and not isinstance(real, type) and len(chain) == 1:
            real_parameters = list(inspect.signature(real).parameters)
            fake_parameters = list(inspect.signature(fake).parameters)
            if real_parameters != fake_parameters:
                problems.append(f"{dotted}: cuda-python takes {real_parameters}, the fake {fake_parameters}")
        elif (len(chain) > 1 or not callable(real)) and int(real) != int(fake):  # enum members, constants
            problems.append(f"{dotted} is {int(real)} in cuda-python, {int(fake)} in the fake")
    assert not problems, problems


def test_the_fakes_error_codes_are_cudas() -> None:
    for member in fake_cuda_runtime.cudaError_t:
        assert int(getattr(cudart.cudaError_t, member.name)) == int(member), member.name


@NO_DRIVER
def test_without_a_driver_the_backend_says_so_before_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EngineError) as raised:
        cuda_runtime.CudaRuntime(0)
    message = str(raised.value)
    assert "no NVIDIA driver was found" in message
    assert "cudaGetDeviceCount failed: cudaErrorInsufficientDriver" in message
    assert 'model.backend = "onnxruntime"' in message

    fake_tensorrt.install(monkeypatch)  # TensorRT as if installed; CUDA is the real cuda-python
    with pytest.raises(EngineError, match="no NVIDIA driver was found"):
        load("demo", "tensorrt")
    assert fake_tensorrt.calls["build_serialized_network"] == 0


@NO_DRIVER
def test_every_call_is_accepted_by_cuda_python_and_its_failure_named() -> None:
    """Each CudaRuntime method, with the argument types the backend passes, against the real
    module: CUDA refuses (no driver) instead of cuda-python raising TypeError, and the error
    names the call and CUDA's error."""
    runtime = cuda_runtime.CudaRuntime.__new__(cuda_runtime.CudaRuntime)
    runtime.cudart = cudart
    host = np.zeros((4, 4), np.float32)
    stream = cudart.cudaStream_t()
    graph, executable = cudart.cudaGraph_t(), cudart.cudaGraphExec_t()
    calls = {
        "cudaMalloc": lambda: runtime.malloc(64),
        "cudaFree": lambda: runtime.free(1 << 20),
        "cudaMallocHost": lambda: runtime.pinned_array((4, 4), np.dtype(np.float32)),
        "cudaFreeHost": lambda: runtime.free_host(1 << 20),
        "cudaStreamCreateWithFlags": runtime.create_stream,
        "cudaStreamDestroy": lambda: runtime.destroy_stream(stream),
        "cudaMemcpyAsync (upload)": lambda: runtime.upload(1 << 20, host, stream),
        "cudaMemcpyAsync (download)": lambda: runtime.download(host, 1 << 20, stream),
        "cudaStreamSynchronize": lambda: runtime.synchronize(stream),
        "cudaGetDevice": runtime.use_device_on_this_thread,
        "cudaStreamBeginCapture": lambda: runtime.begin_capture(stream),
        "cudaStreamEndCapture": lambda: runtime.end_capture(stream),
        "cudaGraphLaunch": lambda: runtime.launch_graph(executable, stream),
        "cudaGraphExecDestroy": lambda: runtime.destroy_graph(graph, executable),
    }
    for call, run in calls.items():
        with pytest.raises(EngineError) as raised:
            run()
        assert str(raised.value) == f"CUDA {call} failed: cudaErrorInsufficientDriver"
    assert not host.any()  # nothing was copied into it
