"""A FAKE of cuda-python's ``cuda.bindings.runtime`` for tests on machines without a GPU.

Only the calls rtpose.engine.cuda_runtime makes, with cuda-python's calling convention (every
call returns a tuple whose first item is a ``cudaError_t``). Host memory stands in for device
memory: ``cudaMalloc`` returns the address of a host buffer, so copies are ``ctypes.memmove``.
Work on a stream runs at once unless the stream is capturing; then it is recorded and only runs
when the instantiated graph is launched, as on a GPU. ``STATE`` counts calls and live
allocations for assertions. ``STATE.fail_after`` makes a call fail as on a GPU (out of memory,
capture not supported) after a number of successes. Work that breaks a capture
(``invalidate_capture``) makes ``cudaStreamEndCapture`` fail with
cudaErrorStreamCaptureInvalidated and end the capture, as CUDA does; failures also set the
last error (``cudaGetLastError`` returns and resets it). The current device is per thread, as in
CUDA: kernels launched (by the TensorRT fake) on a stream of another device fail, as in CUDA
(copies to such a stream are allowed, as in CUDA). Never used by production
code; ``install`` puts it in sys.modules.
"""

from __future__ import annotations

import ctypes
import enum
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100
    cudaErrorInvalidDevice = 101
    cudaErrorInvalidResourceHandle = 400
    cudaErrorStreamCaptureUnsupported = 900
    cudaErrorStreamCaptureInvalidated = 901


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


class cudaStreamCaptureMode(enum.IntEnum):
    cudaStreamCaptureModeGlobal = 0
    cudaStreamCaptureModeThreadLocal = 1
    cudaStreamCaptureModeRelaxed = 2


cudaStreamNonBlocking = 1


class cudaStream_t:
    def __init__(self, handle: int) -> None:
        self._handle = handle

    def __int__(self) -> int:
        return self._handle


@dataclass
class cudaDeviceProp:
    name: bytes
    major: int
    minor: int


@dataclass
class FakeCudaState:
    devices: list[tuple[str, int, int]] = field(default_factory=lambda: [("NVIDIA H200", 9, 0)])
    buffers: dict[int, Any] = field(default_factory=dict)
    host_buffers: dict[int, Any] = field(default_factory=dict)
    streams: dict[int, list[Callable[[], None]] | None] = field(default_factory=dict)
    graphs: dict[int, list[Callable[[], None]]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    next_handle: int = 1
    # call name -> (successes left, the error it then returns, every time)
    fail_after: dict[str, tuple[int, cudaError_t]] = field(default_factory=dict)
    invalidated: set[int] = field(default_factory=set)
    driver_version: int = 13000  # CUDA version the driver supports (0: no driver)
    last_error: cudaError_t = cudaError_t.cudaSuccess  # what cudaGetLastError returns (and resets)
    stream_devices: dict[int, int] = field(default_factory=dict)  # stream -> the device it belongs to
    current_device: threading.local = field(default_factory=threading.local)  # per thread, as in CUDA
    runtime_version: int = 13040  # CUDA version "cuda-python" is built for


STATE = FakeCudaState()


def reset(devices: list[tuple[str, int, int]] | None = None, driver_version: int = 13000) -> FakeCudaState:
    global STATE
    STATE = FakeCudaState(driver_version=driver_version)
    if devices is not None:
        STATE.devices = devices
    return STATE


def install(
    monkeypatch: Any, devices: list[tuple[str, int, int]] | None = None, driver_version: int = 13000
) -> FakeCudaState:
    """Put this fake in sys.modules as cuda.bindings.runtime (undone by pytest's monkeypatch).
    ``driver_version``: the CUDA version the fake driver supports (0: no driver installed)."""
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", sys.modules[__name__])
    return reset(devices, driver_version)


def enqueue(stream: Any, work: Callable[[], None]) -> None:
    """Run ``work`` on ``stream`` now, or record it while the stream is capturing."""
    captured = STATE.streams.get(int(stream))
    if captured is None:
        work()
    else:
        captured.append(work)


def invalidate_capture(stream: Any) -> None:
    """What CUDA does when work that cannot be captured is issued on a capturing stream."""
    STATE.invalidated.add(int(stream))
    STATE.last_error = cudaError_t.cudaErrorStreamCaptureInvalidated


def device_of_this_thread() -> int:
    return int(getattr(STATE.current_device, "index", 0))


def wrong_device(stream: Any) -> bool:
    """Work for a stream of another device than this thread's current one (CUDA refuses kernel
    launches there)."""
    return STATE.stream_devices.get(int(stream), 0) != device_of_this_thread()


def _failure(call: str) -> cudaError_t | None:
    """The error ``call`` returns now, per ``STATE.fail_after`` (None: it succeeds)."""
    if call not in STATE.fail_after:
        return None
    left, error = STATE.fail_after[call]
    if left > 0:
        STATE.fail_after[call] = (left - 1, error)
        return None
    STATE.last_error = error
    return error


def _handle() -> int:
    STATE.next_handle += 1
    return STATE.next_handle


def cudaDriverGetVersion() -> tuple[cudaError_t, int]:
    return cudaError_t.cudaSuccess, STATE.driver_version


def cudaRuntimeGetVersion() -> tuple[cudaError_t, int]:
    return cudaError_t.cudaSuccess, STATE.runtime_version


def cudaGetDeviceCount() -> tuple[cudaError_t, int]:
    STATE.calls["cudaGetDeviceCount"] += 1
    if STATE.driver_version == 0 or STATE.driver_version // 1000 < STATE.runtime_version // 1000:
        return cudaError_t.cudaErrorInsufficientDriver, 0
    if not STATE.devices:
        return cudaError_t.cudaErrorNoDevice, 0
    return cudaError_t.cudaSuccess, len(STATE.devices)


def cudaSetDevice(device: int) -> tuple[cudaError_t]:
    STATE.calls["cudaSetDevice"] += 1
    if not 0 <= device < len(STATE.devices):
        return (cudaError_t.cudaErrorInvalidDevice,)
    STATE.current_device.index = device
    return (cudaError_t.cudaSuccess,)


def cudaGetDevice() -> tuple[cudaError_t, int]:
    return cudaError_t.cudaSuccess, device_of_this_thread()


def cudaGetLastError() -> tuple[cudaError_t]:
    error, STATE.last_error = STATE.last_error, cudaError_t.cudaSuccess
    return (error,)


def cudaGetDeviceProperties(device: int) -> tuple[cudaError_t, cudaDeviceProp | None]:
    if not 0 <= device < len(STATE.devices):
        return cudaError_t.cudaErrorInvalidDevice, None
    name, major, minor = STATE.devices[device]
    return cudaError_t.cudaSuccess, cudaDeviceProp(name.encode() + b"\x00" * 8, major, minor)


def cudaGetErrorName(error: cudaError_t) -> tuple[cudaError_t, bytes]:
    return cudaError_t.cudaSuccess, cudaError_t(error).name.encode()


def cudaMalloc(size: int) -> tuple[cudaError_t, int]:
    error = _failure("cudaMalloc")
    if error is not None:
        return error, 0
    buffer = ctypes.create_string_buffer(size)
    STATE.buffers[ctypes.addressof(buffer)] = buffer
    STATE.calls["cudaMalloc"] += 1
    return cudaError_t.cudaSuccess, ctypes.addressof(buffer)


def cudaFree(devPtr: int) -> tuple[cudaError_t]:
    if STATE.buffers.pop(devPtr, None) is None:
        return (cudaError_t.cudaErrorInvalidValue,)
    return (cudaError_t.cudaSuccess,)


def cudaMallocHost(size: int) -> tuple[cudaError_t, int]:
    error = _failure("cudaMallocHost")
    if error is not None:
        return error, 0
    buffer = ctypes.create_string_buffer(size)
    STATE.host_buffers[ctypes.addressof(buffer)] = buffer
    return cudaError_t.cudaSuccess, ctypes.addressof(buffer)


def cudaFreeHost(ptr: int) -> tuple[cudaError_t]:
    if STATE.host_buffers.pop(ptr, None) is None:
        return (cudaError_t.cudaErrorInvalidValue,)
    return (cudaError_t.cudaSuccess,)


def cudaStreamCreateWithFlags(flags: int) -> tuple[cudaError_t, cudaStream_t]:
    handle = _handle()
    STATE.streams[handle] = None
    STATE.stream_devices[handle] = device_of_this_thread()
    return cudaError_t.cudaSuccess, cudaStream_t(handle)


def cudaStreamDestroy(stream: cudaStream_t) -> tuple[cudaError_t]:
    STATE.streams.pop(int(stream), None)
    return (cudaError_t.cudaSuccess,)


def cudaMemcpyAsync(
    dst: int, src: int, count: int, kind: cudaMemcpyKind, stream: cudaStream_t
) -> tuple[cudaError_t]:
    STATE.calls[f"cudaMemcpyAsync:{cudaMemcpyKind(kind).name}"] += 1
    if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
        pinned = any(
            start <= src < start + ctypes.sizeof(buffer) for start, buffer in STATE.host_buffers.items()
        )
        STATE.calls["upload from pinned memory" if pinned else "upload from pageable memory"] += 1
    enqueue(stream, lambda: ctypes.memmove(dst, src, count))
    return (cudaError_t.cudaSuccess,)


def cudaStreamSynchronize(stream: cudaStream_t) -> tuple[cudaError_t]:
    if STATE.streams.get(int(stream)) is not None:
        return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
    return (cudaError_t.cudaSuccess,)


def cudaStreamBeginCapture(stream: cudaStream_t, mode: cudaStreamCaptureMode) -> tuple[cudaError_t]:
    error = _failure("cudaStreamBeginCapture")
    if error is not None:
        return (error,)
    STATE.streams[int(stream)] = []
    return (cudaError_t.cudaSuccess,)


def cudaStreamEndCapture(stream: cudaStream_t) -> tuple[cudaError_t, int]:
    work = STATE.streams.get(int(stream)) or []
    STATE.streams[int(stream)] = None  # the capture ends even when it failed
    if int(stream) in STATE.invalidated:
        STATE.invalidated.discard(int(stream))
        return cudaError_t.cudaErrorStreamCaptureInvalidated, 0
    handle = _handle()
    STATE.graphs[handle] = list(work)
    return cudaError_t.cudaSuccess, handle


def cudaGraphInstantiate(graph: int, flags: int) -> tuple[cudaError_t, int]:
    error = _failure("cudaGraphInstantiate")
    if error is not None:
        return error, 0
    handle = _handle()
    STATE.graphs[handle] = list(STATE.graphs[graph])
    return cudaError_t.cudaSuccess, handle


def cudaGraphLaunch(graphExec: int, stream: cudaStream_t) -> tuple[cudaError_t]:
    STATE.calls["cudaGraphLaunch"] += 1
    for work in STATE.graphs[graphExec]:
        enqueue(stream, work)
    return (cudaError_t.cudaSuccess,)


def cudaGraphExecDestroy(graphExec: int) -> tuple[cudaError_t]:
    STATE.graphs.pop(graphExec, None)
    return (cudaError_t.cudaSuccess,)


def cudaGraphDestroy(graph: int) -> tuple[cudaError_t]:
    STATE.graphs.pop(graph, None)
    return (cudaError_t.cudaSuccess,)
