"""TensorRT backend (the rig default where a GPU and TensorRT are present): the package's ONNX
compiled into a TensorRT engine, run with static buffers on a private stream.

Install: ``pip install 'rtpose[gpu-cu13]'`` (or ``gpu-cu12``: NVIDIA's TensorRT 10.x/11.x wheels and
cuda-python for the CUDA major version the driver supports; docs/gpu.md). pycuda is not used: it
needs a CUDA toolkit to build. ``rtpose backends`` says what is installed and what is wrong.

Quirks this file handles:
- Builds take from seconds to minutes: progress is printed (TensorRT's ``IProgressMonitor``),
  and the plan is cached (``rtpose.engine.plan_cache``, keyed by GPU name, compute capability,
  TensorRT version, ONNX sha256, precision); the cache path is printed. A stale, foreign or
  corrupt plan is rebuilt, with the reason printed, never used.
- Precision: networks are created strongly typed (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``)
  where TensorRT has the flag, so precisions are the ONNX file's own: ``model.onnx`` for fp32,
  ``model.fp16.onnx`` (``rtpose export sleap-nn --fp16``) for fp16. TensorRT 11 removed
  ``BuilderFlag.FP16``; this backend never uses it. TF32 (on by default) is cleared, so that fp32
  means fp32 and the backend contract's tight tolerance holds.
- TensorRT 10 removed bindings by index: tensors are addressed by name
  (``num_io_tensors``, ``get_tensor_name``, ``set_tensor_address``) and run with
  ``execute_async_v3`` on a private non-blocking stream. The engine's tensor names, shapes and
  dtypes are checked against the package metadata before the first frame.
- Buffers: one device buffer per tensor, allocated once; outputs come back into pinned host
  buffers. The frame is uploaded straight from the caller's array (a camera buffer or a pinned
  ring slot: no host copy); ``pinned_frame_buffer()`` gives a pinned array to fill for the
  fastest upload. With ``cuda_graph`` (default) the engine's kernels and the output downloads of
  one frame are captured once in a CUDA graph (after one ordinary run, which TensorRT needs
  before capture) and replayed per frame; the upload stays outside the graph because its source
  changes per frame. Where capture fails (a plan whose kernels cannot be captured), the engine
  runs without the graph and says so.
- Failures: only a plan TensorRT refuses to deserialize (``deserialize_cuda_engine`` returns None:
  another TensorRT build, a corrupt file) is rebuilt. Any other failure (out of GPU memory, a CUDA
  error) is raised as it is, after the buffers and stream made so far are released: a rebuild,
  minutes long, would not help. A plan cache folder that cannot be written (read-only, or a plan
  locked by another process on Windows) costs a warning; the plan just built is used from memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rtpose.core.errors import EngineError, MissingExtraError, ModelPackageError
from rtpose.core.model_metadata import (
    CENTROIDS_INPUT_NAME,
    CLASS_PROBS_NAME,
    INPUT_NAME,
    INSTANCE_OUTPUT_NAMES,
    OUTPUT_NAMES,
    ModelMetadata,
)
from rtpose.core.types import FloatArray, Poses
from rtpose.engine.cuda_runtime import CudaRuntime
from rtpose.engine.options import GPU_INSTALL_HINT, EngineOptions
from rtpose.engine.plan_cache import PlanCache, PlanKey
from rtpose.engine.protocol import InstanceStageResult, check_centroids, check_frame, poses_from_outputs

WORKSPACE_BYTES = 1 << 30
TensorSpec = tuple[str, np.dtype[Any], tuple[int, ...]]
Report = Callable[[str], None]


def report_to_stderr(message: str) -> None:
    print(f"rtpose tensorrt: {message}", file=sys.stderr, flush=True)


def import_tensorrt() -> Any:
    try:
        return importlib.import_module("tensorrt")
    except ImportError as error:
        raise MissingExtraError(
            "the tensorrt backend needs the Python package 'tensorrt', which is not installed. Install "
            f"NVIDIA's wheels (TensorRT 10 or 11 for the driver's CUDA version) and cuda-python with: "
            f'{GPU_INSTALL_HINT}; or use model.backend = "torch" or "onnxruntime"'
        ) from error


def expected_tensors(metadata: ModelMetadata, graph: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of the package's ``graph`` ("full" or "instance"): name, dtype, shape."""
    k, j = metadata.max_instances, metadata.num_nodes
    f32, boolean = np.dtype(np.float32), np.dtype(np.bool_)
    shapes: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
        "points": (f32, (k, j, 2)),
        "point_scores": (f32, (k, j)),
        "instance_scores": (f32, (k,)),
        "valid": (boolean, (k,)),
        "centroids": (f32, (k, 2)),
        CLASS_PROBS_NAME: (f32, (k, len(metadata.class_names))),
    }
    frame: TensorSpec = (INPUT_NAME, np.dtype(np.uint8), metadata.frame_shape)
    names = list(OUTPUT_NAMES) if graph == "full" else list(INSTANCE_OUTPUT_NAMES)
    if metadata.class_names:
        names.append(CLASS_PROBS_NAME)
    outputs = [(name, *shapes[name]) for name in names]
    if graph == "full":
        return [frame], outputs
    return [frame, (CENTROIDS_INPUT_NAME, f32, (k, 2))], outputs


def build_plan(trt: Any, onnx_path: Path, report: Report) -> bytes:
    """Build a serialized engine from an ONNX file (strongly typed where TensorRT supports it)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed is not None:
        flags |= 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise ModelPackageError(f"TensorRT cannot parse {onnx_path}: {errors or 'no details given'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    tf32 = getattr(getattr(trt, "BuilderFlag", None), "TF32", None)
    if tf32 is not None:  # fp32 means fp32: TF32 (on by default) rounds convolution inputs to 10 bits
        config.clear_flag(tf32)
    monitor = progress_monitor(trt, report)
    if monitor is not None:
        config.progress_monitor = monitor
    started = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(f"TensorRT could not build an engine from {onnx_path} (see its log above)")
    report(f"built in {time.perf_counter() - started:.1f} s")
    return bytes(plan)


def progress_monitor(trt: Any, report: Report) -> Any:
    """A TensorRT IProgressMonitor printing top-level phases and their step counts (None when this
    TensorRT has no progress monitor)."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class BuildProgress(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.started = time.perf_counter()

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:
                elapsed = time.perf_counter() - self.started
                report(f"[{elapsed:6.1f} s] {phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            return None

    return BuildProgress()


class PlanNotLoadable(EngineError):
    """TensorRT refused a plan's bytes (``deserialize_cuda_engine`` returned None): rebuild it."""


class _TrtGraph:
    """One deserialized engine with its context, device buffers, pinned outputs and stream.

    Raises PlanNotLoadable when TensorRT refuses the plan; any other failure releases what was
    allocated before it is raised."""

    def __init__(
        self,
        trt: Any,
        cuda: CudaRuntime,
        plan: bytes,
        spec: tuple[list[TensorSpec], list[TensorSpec]],
        cuda_graph: bool,
        source: str,
        report: Report = report_to_stderr,
    ) -> None:
        self.cuda = cuda
        self.stream: Any = None
        self.device: dict[str, int] = {}
        self.host_pointers: list[int] = []
        self.host_outputs: list[npt.NDArray[Any]] = []
        self.graph: tuple[Any, Any] | None = None
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise PlanNotLoadable(f"TensorRT cannot deserialize the plan {source}")
        self.inputs, self.outputs = spec
        self._check_tensors(trt, source)
        self.context = self.engine.create_execution_context()
        try:
            self._allocate()
            self._enqueue()  # TensorRT's lazy set-up happens here, outside any capture
            cuda.synchronize(self.stream)
            if cuda_graph:
                self._capture(report)
        except BaseException:
            self.release()
            raise

    def _allocate(self) -> None:
        cuda = self.cuda
        self.stream = cuda.create_stream()
        for name, dtype, shape in self.inputs + self.outputs:
            pointer = cuda.malloc(int(np.prod(shape)) * dtype.itemsize)
            self.device[name] = pointer
            if not self.context.set_tensor_address(name, pointer):
                raise EngineError(f"TensorRT refused the address of tensor {name!r}")
        for _name, dtype, shape in self.outputs:
            pointer, array = cuda.pinned_array(shape, dtype)
            self.host_pointers.append(pointer)
            self.host_outputs.append(array)

    def _capture(self, report: Report) -> None:
        """Capture one frame's work in a CUDA graph; where that fails, say so and run without."""
        cuda = self.cuda
        try:
            cuda.begin_capture(self.stream)
        except EngineError as error:
            self._run_without_graph(error, report)
            return
        try:
            self._enqueue()
        except EngineError as error:
            with contextlib.suppress(EngineError):  # end the broken capture; its error hides the cause
                cuda.destroy_graph(*cuda.end_capture(self.stream))
            self._run_without_graph(error, report)
            return
        try:
            self.graph = cuda.end_capture(self.stream)
        except EngineError as error:
            self._run_without_graph(error, report)

    def _run_without_graph(self, error: EngineError, report: Report) -> None:
        """After a failed capture: clear CUDA's last error (TensorRT checks it after its kernel
        launches, so a stale one would fail the next frame, as trtexec also guards against),
        say so, and check that the stream runs a frame the plain way."""
        self.cuda.clear_last_error()
        report(f"CUDA graph capture failed ({error}); running without a CUDA graph")
        self._enqueue()
        self.cuda.synchronize(self.stream)

    def _check_tensors(self, trt: Any, source: str) -> None:
        found: dict[str, tuple[bool, Any, tuple[int, ...]]] = {}
        for index in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(index)
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            dtype: Any
            try:
                dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            except TypeError:  # bfloat16, fp8, int4: no numpy type (nptype raises), never rtpose's
                trt_dtype = self.engine.get_tensor_dtype(name)
                dtype = str(getattr(trt_dtype, "name", trt_dtype))
            found[name] = (is_input, dtype, tuple(int(size) for size in self.engine.get_tensor_shape(name)))
        wanted = {name: (True, dtype, shape) for name, dtype, shape in self.inputs}
        wanted.update({name: (False, dtype, shape) for name, dtype, shape in self.outputs})
        problems = []
        for name, (is_input, dtype, shape) in wanted.items():
            kind = "input" if is_input else "output"
            if name not in found:
                problems.append(f"no {kind} {name!r}")
                continue
            got_input, got_dtype, got_shape = found[name]
            if (got_input, got_dtype, got_shape) != (is_input, dtype, shape):
                problems.append(
                    f"{kind} {name!r} should be {dtype} {list(shape)}, the engine has "
                    f"{'input' if got_input else 'output'} {got_dtype} {list(got_shape)}"
                )
        extra = sorted(set(found) - set(wanted))
        if extra:
            problems.append(f"unexpected tensors {extra}")
        if problems:
            raise ModelPackageError(
                f"the TensorRT engine {source} does not match the package metadata: {'; '.join(problems)}; "
                f"re-export the package"
            )

    def _enqueue(self) -> None:
        if not self.context.execute_async_v3(int(self.stream)):
            raise EngineError("TensorRT execute_async_v3 failed")
        for (name, _, _), host in zip(self.outputs, self.host_outputs, strict=True):
            self.cuda.download(host, self.device[name], self.stream)

    def run(self, arrays: list[npt.NDArray[Any]]) -> list[npt.NDArray[Any]]:
        self.cuda.use_device_on_this_thread()
        for (name, _, _), array in zip(self.inputs, arrays, strict=True):
            self.cuda.upload(self.device[name], array, self.stream)
        if self.graph is not None:
            self.cuda.launch_graph(self.graph[1], self.stream)
        else:
            self._enqueue()
        self.cuda.synchronize(self.stream)
        return [host.copy() for host in self.host_outputs]

    def release(self) -> None:
        """Free the graph, buffers and stream (whatever exists of them); idempotent."""
        if self.device or self.host_pointers or self.stream is not None:
            with contextlib.suppress(EngineError):  # freeing is still attempted
                self.cuda.use_device_on_this_thread()
        if self.graph is not None:
            self.cuda.destroy_graph(*self.graph)
            self.graph = None
        for pointer in self.device.values():
            self.cuda.free(pointer)
        for pointer in self.host_pointers:
            self.cuda.free_host(pointer)
        self.device.clear()
        self.host_pointers.clear()
        self.host_outputs.clear()
        if self.stream is not None:
            self.cuda.destroy_stream(self.stream)
            self.stream = None
        self.context = None
        self.engine = None


class TensorRtEngine:
    """Engine on TensorRT: cached plans, static buffers, a private stream, an optional CUDA graph."""

    backend_name = "tensorrt"
    frees_frame_buffers_on_close = True  # pinned_frame_buffer()'s memory: see rtpose/session.py

    def __init__(
        self,
        package_dir: Path,
        metadata: ModelMetadata,
        options: EngineOptions | None = None,
        instance_stage: bool = False,
        report: Report = report_to_stderr,
    ) -> None:
        options = options or EngineOptions()
        self._trt = import_tensorrt()
        self.cuda = CudaRuntime(options.device)
        self.metadata = metadata
        self.options = options
        self.cache = PlanCache(options.plan_cache_dir)
        self._report = report
        package_dir = Path(package_dir)
        files = metadata.files
        full_onnx = files.onnx
        if options.precision == "fp16":
            if files.onnx_fp16 is None:
                raise ModelPackageError(
                    f'{package_dir} has no fp16 graph (files.onnx_fp16) for precision "fp16"; export it '
                    f'with `rtpose export sleap-nn ... --fp16`, or set model.precision = "fp32"'
                )
            full_onnx = files.onnx_fp16
        if instance_stage and files.instance_onnx is None:
            raise ModelPackageError(
                f"{package_dir} has no instance-stage graph (files.instance_onnx), which fast mode "
                f"needs; re-export the package with this rtpose version"
            )
        self.plan_paths: list[Path] = []
        self._full = self._open(package_dir / full_onnx, "full")
        self._instance: _TrtGraph | None = None
        if instance_stage and files.instance_onnx is not None:
            try:
                self._instance = self._open(package_dir / files.instance_onnx, "instance")
            except BaseException:
                self._full.release()
                raise
        self._closed = False

    def plan_key(self, onnx_path: Path, graph: str) -> PlanKey:
        precision = self.options.precision if graph == "full" else "fp32"
        return PlanKey(
            package_name=self.metadata.name,
            graph=graph,
            onnx_sha256=hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
            precision=precision,
            gpu_name=self.cuda.name,
            compute_capability=self.cuda.compute_capability,
            tensorrt_version=str(self._trt.__version__),
            builder_settings=f"workspace={WORKSPACE_BYTES}",
        )

    def _open(self, onnx_path: Path, graph: str) -> _TrtGraph:
        key = self.plan_key(onnx_path, graph)
        found = self.cache.lookup(key)
        spec = expected_tensors(self.metadata, graph)
        if found.plan is not None:
            try:
                opened = self._graph(found.plan, spec, str(found.path))
            except PlanNotLoadable as error:
                self._report(f"the cached plan {found.path} does not load ({error}); rebuilding")
            else:
                self._report(f"using the cached plan {found.path}")
                self.plan_paths.append(found.path)
                return opened
        elif found.reason != "no cached plan":
            self._report(f"not using {found.path}: {found.reason}; rebuilding")
        self._report(f"building a TensorRT engine: {key.describe()} (takes a while; cached for next time)")
        plan = build_plan(self._trt, onnx_path, self._report)
        try:
            path = self.cache.store(key, plan)
        except OSError as error:
            self._report(
                f"cannot cache the plan in {self.cache.root} ({error}); using it from memory, and the "
                f"next start builds it again (set model.plan_cache to a writable folder)"
            )
            return self._graph(plan, spec, f"just built for {onnx_path.name}")
        self._report(f"plan cached at {path}")
        self.plan_paths.append(path)
        return self._graph(plan, spec, str(path))

    def _graph(self, plan: bytes, spec: tuple[list[TensorSpec], list[TensorSpec]], source: str) -> _TrtGraph:
        return _TrtGraph(self._trt, self.cuda, plan, spec, self.options.cuda_graph, source, self._report)

    def describe(self) -> str:
        graph = "CUDA graph" if self.options.cuda_graph else "no CUDA graph"
        return (
            f"TensorRT {self._trt.__version__} on {self.cuda.name} (sm {self.cuda.compute_capability}), "
            f"{self.options.precision}, {graph}; plans {[str(path) for path in self.plan_paths]}"
        )

    def pinned_frame_buffer(self) -> npt.NDArray[np.uint8]:
        """A frame-sized uint8 array in pinned host memory (freed with the engine), for the
        camera to fill: uploads from pinned memory run at full bus speed."""
        if self._closed:
            raise EngineError("the engine is closed; load the model again")
        self.cuda.use_device_on_this_thread()
        pointer, array = self.cuda.pinned_array(self.metadata.frame_shape, np.dtype(np.uint8))
        self._full.host_pointers.append(pointer)
        return array

    def infer(self, frame: npt.NDArray[np.uint8]) -> Poses:
        if self._closed:
            raise EngineError("the engine is closed; load the model again")
        image = check_frame(frame, self.metadata)
        results = self._full.run([image])
        return poses_from_outputs(results)

    def infer_instances(self, frame: npt.NDArray[np.uint8], centroids: FloatArray) -> InstanceStageResult:
        if self._closed:
            raise EngineError("the engine is closed; load the model again")
        if self._instance is None:
            raise EngineError("the instance stage was not loaded; load the engine with fast mode enabled")
        image = check_frame(frame, self.metadata)
        results = self._instance.run([image, check_centroids(centroids, self.metadata)])
        return InstanceStageResult(*results)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for graph in (self._full, self._instance):
            if graph is not None:
                graph.release()
