"""The few CUDA runtime calls the TensorRT backend makes, through cuda-bindings (cuda-python).

Install: ``pip install 'rtpose[gpu-cu13]'`` or ``gpu-cu12`` (``cuda-python``: wheels, no CUDA
toolkit needed; the NVIDIA driver must be installed for any call to succeed). cuda-python 12.6+
has the module as ``cuda.bindings.runtime``; older releases as ``cuda.cudart``: both are accepted.

Every cuda-python call returns a tuple whose first item is the error code; ``_check`` turns a
failure into EngineError naming the call and CUDA's error name.

cuda-python is built for one CUDA major version (12.x or 13.x) and runs only on a driver that
supports it; without a driver, or with an older one, every call fails with
cudaErrorInsufficientDriver. ``no_gpu_reason`` tells these apart (``cudaDriverGetVersion`` is 0
without a driver) and says which cuda-python (and TensorRT wheels) the driver needs. Checked
against the real cuda-python 12.9 and 13.4 on a machine without a driver
(tests/test_engine_cuda_python.py).
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Any

import numpy as np
import numpy.typing as npt

from rtpose.core.errors import EngineError, MissingExtraError
from rtpose.engine.options import CUDA_PYTHON_MODULES as CUDA_MODULES
from rtpose.engine.options import GPU_INSTALL_HINT, gpu_reinstall_hint


def import_cudart() -> Any:
    for name in CUDA_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise MissingExtraError(
        "the tensorrt backend makes its CUDA calls through cuda-python, which is not installed. "
        f"Install it with: {GPU_INSTALL_HINT}"
    )


def device_name(properties: Any) -> str:
    """The GPU's name from cudaGetDeviceProperties (bytes padded with NULs in cuda-python)."""
    name = properties.name
    return (name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)).rstrip("\x00")


def cuda_version_text(version: int) -> str:
    """CUDA's integer version (1000 * major + 10 * minor) as "major.minor"."""
    return f"{version // 1000}.{version % 1000 // 10}"


def driver_and_runtime_versions(cudart: Any) -> tuple[int, int]:
    """(the CUDA version the driver supports, 0 without a driver; the CUDA version cuda-python is
    built for). Both calls work without a GPU."""
    driver = cudart.cudaDriverGetVersion()
    runtime = cudart.cudaRuntimeGetVersion()
    success = cudart.cudaError_t.cudaSuccess
    return (
        int(driver[1]) if driver[0] == success else 0,
        int(runtime[1]) if runtime[0] == success else 0,
    )


def no_gpu_reason(cudart: Any, error: EngineError) -> str:
    """Why CUDA found no GPU, in words a rig user can act on."""
    driver, runtime = driver_and_runtime_versions(cudart)
    if driver == 0:
        return f"no NVIDIA driver was found ({error}); install NVIDIA's driver for this GPU"
    if runtime and driver // 1000 < runtime // 1000:
        return (
            f"the NVIDIA driver supports CUDA up to {cuda_version_text(driver)}, but the installed "
            f"cuda-python is built for CUDA {cuda_version_text(runtime)} ({error}). Install the "
            f"packages for CUDA {driver // 1000}: {gpu_reinstall_hint(driver // 1000, runtime // 1000)}; "
            f"or update the driver"
        )
    return f"{error} (driver CUDA {cuda_version_text(driver)}, cuda-python CUDA {cuda_version_text(runtime)})"


class CudaRuntime:
    """One CUDA device: its description, memory, a private stream, graph capture."""

    def __init__(self, device: int = 0) -> None:
        self.cudart = import_cudart()
        self.device = device
        try:
            count = self._check(self.cudart.cudaGetDeviceCount(), "cudaGetDeviceCount")
        except EngineError as error:
            raise EngineError(
                f"no usable CUDA GPU: {no_gpu_reason(self.cudart, error)}. The tensorrt backend needs "
                f'an NVIDIA GPU and driver; without them use model.backend = "onnxruntime" (or "auto")'
            ) from None
        if device >= count:
            raise EngineError(f"CUDA device {device} does not exist: this machine has {count} GPU(s)")
        self._check(self.cudart.cudaSetDevice(device), "cudaSetDevice")
        properties = self._check(self.cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        self.name = device_name(properties)
        self.compute_capability = f"{properties.major}.{properties.minor}"

    def use_device_on_this_thread(self) -> None:
        """Make this object's device current on the calling thread. CUDA's current device is per
        thread and anything may change it (another engine in the process, a library): frames run
        on a thread other than the loading one (replay, embedding) would otherwise go to device 0."""
        if self._check(self.cudart.cudaGetDevice(), "cudaGetDevice") != self.device:
            self._check(self.cudart.cudaSetDevice(self.device), "cudaSetDevice")

    def clear_last_error(self) -> None:
        """Reset CUDA's last error on this thread (the error itself is not wanted)."""
        self.cudart.cudaGetLastError()

    def _check(self, result: Any, call: str) -> Any:
        error, *values = result if isinstance(result, tuple) else (result,)
        if error != self.cudart.cudaError_t.cudaSuccess:
            name = self.cudart.cudaGetErrorName(error)
            text = name[1].decode() if isinstance(name, tuple) and isinstance(name[1], bytes) else str(error)
            raise EngineError(f"CUDA {call} failed: {text}")
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)

    def malloc(self, nbytes: int) -> int:
        return int(self._check(self.cudart.cudaMalloc(max(nbytes, 1)), "cudaMalloc"))

    def free(self, pointer: int) -> None:
        self._check(self.cudart.cudaFree(pointer), "cudaFree")

    def pinned_array(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[int, npt.NDArray[Any]]:
        """Page-locked host memory as a numpy array (and its pointer, for ``free_host``)."""
        nbytes = int(np.prod(shape)) * dtype.itemsize
        pointer = int(self._check(self.cudart.cudaMallocHost(max(nbytes, 1)), "cudaMallocHost"))
        raw = (ctypes.c_uint8 * max(nbytes, 1)).from_address(pointer)
        array = np.frombuffer(memoryview(raw).cast("B"), np.uint8, count=nbytes).view(dtype).reshape(shape)
        return pointer, array

    def free_host(self, pointer: int) -> None:
        self._check(self.cudart.cudaFreeHost(pointer), "cudaFreeHost")

    def create_stream(self) -> Any:
        flags = self.cudart.cudaStreamNonBlocking
        return self._check(self.cudart.cudaStreamCreateWithFlags(flags), "cudaStreamCreateWithFlags")

    def destroy_stream(self, stream: Any) -> None:
        self._check(self.cudart.cudaStreamDestroy(stream), "cudaStreamDestroy")

    def upload(self, device_pointer: int, host: npt.NDArray[Any], stream: Any) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        result = self.cudart.cudaMemcpyAsync(device_pointer, host.ctypes.data, host.nbytes, kind, stream)
        self._check(result, "cudaMemcpyAsync (upload)")

    def download(self, host: npt.NDArray[Any], device_pointer: int, stream: Any) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        result = self.cudart.cudaMemcpyAsync(host.ctypes.data, device_pointer, host.nbytes, kind, stream)
        self._check(result, "cudaMemcpyAsync (download)")

    def synchronize(self, stream: Any) -> None:
        self._check(self.cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def begin_capture(self, stream: Any) -> None:
        mode = self.cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self._check(self.cudart.cudaStreamBeginCapture(stream, mode), "cudaStreamBeginCapture")

    def end_capture(self, stream: Any) -> tuple[Any, Any]:
        """Finish a capture: (graph, executable graph)."""
        graph = self._check(self.cudart.cudaStreamEndCapture(stream), "cudaStreamEndCapture")
        try:
            executable = self._check(self.cudart.cudaGraphInstantiate(graph, 0), "cudaGraphInstantiate")
        except EngineError:
            self.cudart.cudaGraphDestroy(graph)  # not kept: nothing else would free it
            raise
        return graph, executable

    def launch_graph(self, executable: Any, stream: Any) -> None:
        self._check(self.cudart.cudaGraphLaunch(executable, stream), "cudaGraphLaunch")

    def destroy_graph(self, graph: Any, executable: Any) -> None:
        self._check(self.cudart.cudaGraphExecDestroy(executable), "cudaGraphExecDestroy")
        self._check(self.cudart.cudaGraphDestroy(graph), "cudaGraphDestroy")
