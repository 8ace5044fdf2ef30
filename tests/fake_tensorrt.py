"""A FAKE of the ``tensorrt`` Python module (TensorRT 10/11 API) for tests without a GPU.

Only what rtpose.engine.tensorrt uses, with TensorRT's names and behaviour: ``Builder``
(``create_network`` with creation flags, ``create_builder_config``, ``build_serialized_network``
returning host memory or None), ``OnnxParser`` (``parse``, ``num_errors``, ``get_error``),
``IProgressMonitor`` (called per phase and step during a build), ``Runtime`` (
``deserialize_cuda_engine`` returns None for a plan from another TensorRT version or not a plan),
``ICudaEngine`` (tensors by name: ``num_io_tensors``, ``get_tensor_name``, ``get_tensor_mode``,
``get_tensor_shape``, ``get_tensor_dtype``) and ``IExecutionContext`` (``set_tensor_address``,
``execute_async_v3`` on a stream handle). There is no ``BuilderFlag.FP16`` (TensorRT 11 removed
it; rtpose must not need it). ``install(version="11...")`` gives TensorRT 11's creation flags
(STRONGLY_TYPED = 0, ignored: always strongly typed; no EXPLICIT_BATCH); 10.x has
STRONGLY_TYPED = 1. ``last_build`` says how the last engine was built.

The "plan" is a header naming this fake's version plus the ONNX bytes; executing it runs the ONNX
graph in ONNX Runtime on the fake device memory of tests/fake_cuda_runtime.py, queued on the
stream (so CUDA graph capture records it). Never used by production code.
"""

from __future__ import annotations

import ctypes
import enum
import json
import sys
from collections import Counter
from typing import Any

import fake_cuda_runtime
import numpy as np
import onnxruntime as ort

__version__ = "10.13.0"
PLAN_MAGIC = b"FAKE-TRT-PLAN\n"
calls: Counter[str] = Counter()
last_build: dict[str, bool] = {}  # how the last engine was built: strongly_typed, tf32
refuse_capture = False  # True: execute_async_v3 fails on a capturing stream (and breaks the capture)


def install(monkeypatch: Any, version: str = "10.13.0") -> Any:
    """Put this fake in sys.modules as tensorrt, with ``version`` (undone by monkeypatch)."""
    module = sys.modules[__name__]
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(module, "__version__", version)
    monkeypatch.setattr(module, "refuse_capture", False)
    flags = NetworkDefinitionCreationFlag11 if version.startswith("11.") else NetworkDefinitionCreationFlag10
    monkeypatch.setattr(module, "NetworkDefinitionCreationFlag", flags)
    calls.clear()
    last_build.clear()
    return module


class Logger:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self, min_severity: int = 2) -> None:
        self.min_severity = min_severity


class NetworkDefinitionCreationFlag10(enum.IntEnum):  # TensorRT 10.x
    EXPLICIT_BATCH = 0  # deprecated, ignored
    STRONGLY_TYPED = 1


class NetworkDefinitionCreationFlag11(enum.IntEnum):  # TensorRT 11.x: always strongly typed
    STRONGLY_TYPED = 0  # deprecated, ignored


NetworkDefinitionCreationFlag: type[enum.IntEnum] = NetworkDefinitionCreationFlag10


class BuilderFlag(enum.IntEnum):  # no FP16: TensorRT 11 removed it
    TF32 = 6


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    BF16 = 7  # no numpy equivalent: nptype raises TypeError, as TensorRT's does
    INT64 = 8


_NUMPY = {
    DataType.FLOAT: np.float32,
    DataType.HALF: np.float16,
    DataType.INT8: np.int8,
    DataType.INT32: np.int32,
    DataType.BOOL: np.bool_,
    DataType.UINT8: np.uint8,
    DataType.INT64: np.int64,
}
_ORT_TYPES = {
    "tensor(float)": DataType.FLOAT,
    "tensor(float16)": DataType.HALF,
    "tensor(bool)": DataType.BOOL,
    "tensor(uint8)": DataType.UINT8,
    "tensor(int64)": DataType.INT64,
    "tensor(int32)": DataType.INT32,
}


def nptype(dtype: DataType) -> type:
    if DataType(dtype) not in _NUMPY:
        raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
    return _NUMPY[DataType(dtype)]


class IProgressMonitor:
    def __init__(self) -> None:
        pass


class IHostMemory:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self.nbytes = len(data)

    def __bytes__(self) -> bytes:
        return self._data


class _ParserError:
    def __init__(self, text: str) -> None:
        self._text = text

    def __str__(self) -> str:
        return self._text


class INetworkDefinition:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.onnx: bytes | None = None


class IBuilderConfig:
    def __init__(self) -> None:
        self.memory_pools: dict[MemoryPoolType, int] = {}
        self.progress_monitor: IProgressMonitor | None = None
        self.flags = {BuilderFlag.TF32}  # TensorRT's default

    def clear_flag(self, flag: BuilderFlag) -> None:
        self.flags.discard(BuilderFlag(flag))

    def set_flag(self, flag: BuilderFlag) -> None:
        self.flags.add(BuilderFlag(flag))

    def get_flag(self, flag: BuilderFlag) -> bool:
        return BuilderFlag(flag) in self.flags

    def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
        self.memory_pools[pool] = size


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: Logger) -> None:
        self.network = network
        self._errors: list[_ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> _ParserError:
        return self._errors[index]

    def parse(self, model: bytes) -> bool:
        try:
            ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        except Exception as error:
            self._errors.append(_ParserError(f"ModelImporter.cpp: failed to parse: {error}"))
            return False
        self.network.onnx = bytes(model)
        return True


class Builder:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition(flags)

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def build_serialized_network(
        self, network: INetworkDefinition, config: IBuilderConfig
    ) -> IHostMemory | None:
        calls["build_serialized_network"] += 1
        if network.onnx is None:
            return None
        monitor = config.progress_monitor
        if monitor is not None:
            monitor.phase_start("Building engine", None, 2)  # type: ignore[attr-defined]
            for step in range(2):
                monitor.step_complete("Building engine", step)  # type: ignore[attr-defined]
            monitor.phase_finish("Building engine")  # type: ignore[attr-defined]
        strongly_typed = NetworkDefinitionCreationFlag is NetworkDefinitionCreationFlag11 or bool(
            network.flags >> NetworkDefinitionCreationFlag10.STRONGLY_TYPED & 1
        )
        last_build.update(strongly_typed=strongly_typed, tf32=config.get_flag(BuilderFlag.TF32))
        header = {"version": __version__, "strongly_typed": strongly_typed}
        return IHostMemory(PLAN_MAGIC + json.dumps(header).encode() + b"\n" + network.onnx)


class Runtime:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, plan: bytes) -> ICudaEngine | None:
        if not bytes(plan).startswith(PLAN_MAGIC):
            return None  # TensorRT logs "invalid plan" and returns None
        header_line, onnx_bytes = bytes(plan)[len(PLAN_MAGIC) :].split(b"\n", 1)
        if json.loads(header_line)["version"] != __version__:
            return None  # a plan from another TensorRT version
        return ICudaEngine(onnx_bytes)


class ICudaEngine:
    def __init__(self, onnx_bytes: bytes) -> None:
        self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        self._tensors: dict[str, tuple[TensorIOMode, DataType, tuple[int, ...]]] = {}
        for mode, nodes in (
            (TensorIOMode.INPUT, self.session.get_inputs()),
            (TensorIOMode.OUTPUT, self.session.get_outputs()),
        ):
            for node in nodes:
                self._tensors[node.name] = (mode, _ORT_TYPES[node.type], tuple(node.shape))
        self._names = list(self._tensors)

    @property
    def num_io_tensors(self) -> int:
        return len(self._names)

    def get_tensor_name(self, index: int) -> str:
        return self._names[index]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return self._tensors[name][0] if name in self._tensors else TensorIOMode.NONE

    def get_tensor_dtype(self, name: str) -> DataType:
        return self._tensors[name][1]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self._tensors[name][2]

    def create_execution_context(self) -> IExecutionContext:
        return IExecutionContext(self)


class IExecutionContext:
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self.addresses: dict[str, int] = {}

    def set_tensor_address(self, name: str, address: int) -> bool:
        if name not in engine_names(self.engine):
            return False
        self.addresses[name] = address
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        calls["execute_async_v3"] += 1
        if set(self.addresses) != set(engine_names(self.engine)):
            return False  # TensorRT: every I/O tensor needs an address
        if fake_cuda_runtime.STATE.last_error != fake_cuda_runtime.cudaError_t.cudaSuccess:
            return False  # TensorRT checks CUDA's last error after its launches: a stale one fails it
        if fake_cuda_runtime.wrong_device(stream_handle):
            return False  # kernels launched on a stream of another device than the current one
        stream = fake_cuda_runtime.cudaStream_t(stream_handle)
        if refuse_capture and fake_cuda_runtime.STATE.streams.get(stream_handle) is not None:
            fake_cuda_runtime.invalidate_capture(stream)  # e.g. a plugin that synchronizes
            return False
        fake_cuda_runtime.enqueue(stream, self._run)
        return True

    def _run(self) -> None:
        engine = self.engine
        feeds = {}
        for node in engine.session.get_inputs():
            _, dtype, shape = engine._tensors[node.name]
            feeds[node.name] = _view(self.addresses[node.name], dtype, shape).copy()
        outputs = engine.session.run(None, feeds)
        for node, value in zip(engine.session.get_outputs(), outputs, strict=True):
            _, dtype, shape = engine._tensors[node.name]
            _view(self.addresses[node.name], dtype, shape)[...] = value


def engine_names(engine: ICudaEngine) -> list[str]:
    return [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]


def _view(address: int, dtype: DataType, shape: tuple[int, ...]) -> np.ndarray:
    numpy_type = np.dtype(nptype(dtype))
    nbytes = int(np.prod(shape)) * numpy_type.itemsize
    raw = (ctypes.c_uint8 * max(nbytes, 1)).from_address(address)
    return np.frombuffer(raw, np.uint8, count=nbytes).view(numpy_type).reshape(shape)
