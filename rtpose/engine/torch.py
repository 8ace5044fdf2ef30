"""torch backend: runs the package's ``model.pt2`` (the exporter's fused module, saved with
``torch.export``), the reference implementation and the GPU path where TensorRT is absent.

Install: ``pip install torch==2.13.0`` (CPU) or a CUDA build of torch 2.13 for GPUs. The program
loads without rtpose's ``export/`` code (``torch.export.load``).

- On the CPU: plain eager execution of the exported graph, ``torch.set_num_threads(threads)``
  (note: a process-wide torch setting) and denormals flushed to zero (tiny activations otherwise
  slow convolutions down severalfold). fp16 is refused (no fast fp16 convolutions on CPUs).
- On a CUDA GPU: the program is moved to the device (``move_to_device_pass`` rewrites the device
  arguments baked into the graph), frames are uploaded into a static device tensor and, with
  ``cuda_graph`` (default), one frame's work is captured in a CUDA graph after a warm-up on a side
  stream and replayed per frame; outputs are copied into pinned host buffers and returned as
  fresh arrays. fp32 turns cuDNN's TF32 off (a process-wide torch setting), so that fp32 means
  fp32. ``precision = "fp16"`` runs under autocast (convolutions in fp16; the decode's
  float32 ops stay float32 where autocast keeps them so).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rtpose.core.errors import EngineError, ModelPackageError
from rtpose.core.extras import require
from rtpose.core.model_metadata import ModelMetadata
from rtpose.core.types import FloatArray, Poses
from rtpose.engine.options import EngineOptions
from rtpose.engine.protocol import InstanceStageResult, check_centroids, check_frame, poses_from_outputs


def load_program(torch: Any, path: Path, device: Any) -> Any:
    """The exported program at ``path`` as a module on ``device``, without dtype checks.

    ``aten._assert_tensor_metadata`` nodes (torch.export's record of each ``.to``'s input dtype
    and device) are erased: under autocast their float32 expectation is wrong by design, and
    ``move_to_device_pass`` already placed every tensor. The casts themselves stay.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.export.load(str(path))
        if device.type == "cuda":
            from torch.export.passes import move_to_device_pass

            program = move_to_device_pass(program, str(device))
        module = program.module()
    assert_metadata = torch.ops.aten._assert_tensor_metadata.default
    graph = module.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is assert_metadata and not node.users:
            graph.erase_node(node)
    graph.lint()
    module.recompile()
    return module


class _Runner:
    """One exported program on one device: static inputs, optional CUDA graph."""

    def __init__(
        self, torch: Any, module: Any, examples: list[Any], device: Any, options: EngineOptions
    ) -> None:
        self.torch = torch
        self.module = module
        self.device = device
        self.on_gpu = device.type == "cuda"
        self.autocast = self.on_gpu and options.precision == "fp16"
        self.inputs = [example.to(device) for example in examples]
        self.graph: Any = None
        self.outputs: list[Any] = []
        if self.on_gpu:
            self.stream = torch.cuda.Stream(device)
            self.stream.wait_stream(torch.cuda.current_stream(device))  # the inputs were made there
            with torch.cuda.stream(self.stream), torch.inference_mode():
                for _ in range(3):  # warm-up on the side stream, as CUDA graph capture requires
                    self.outputs = list(self._call())
            self.stream.synchronize()
            if options.cuda_graph:
                self.graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph, stream=self.stream), torch.inference_mode():
                    self.outputs = list(self._call())
            self.host_outputs = [torch.empty_like(out, device="cpu").pin_memory() for out in self.outputs]

    def _call(self) -> Any:
        if self.autocast:
            with self.torch.autocast("cuda", dtype=self.torch.float16, cache_enabled=False):
                return self.module(*self.inputs)
        return self.module(*self.inputs)

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        torch = self.torch
        # torch.from_numpy warns on read-only arrays (e.g. a frame from np.frombuffer): copy those
        arrays = [array if array.flags.writeable else array.copy() for array in arrays]
        if not self.on_gpu:
            with torch.inference_mode():
                outputs = self.module(*(torch.from_numpy(array) for array in arrays))
            return [output.numpy() for output in outputs]
        with torch.cuda.stream(self.stream), torch.inference_mode():
            for device_input, array in zip(self.inputs, arrays, strict=True):
                device_input.copy_(torch.from_numpy(array), non_blocking=True)
            if self.graph is not None:
                self.graph.replay()
            else:
                self.outputs = list(self._call())
            for host, device_output in zip(self.host_outputs, self.outputs, strict=True):
                host.copy_(device_output, non_blocking=True)
        self.stream.synchronize()
        return [host.numpy().copy() for host in self.host_outputs]


class TorchEngine:
    """Engine on the package's torch.export program (CPU, or a CUDA GPU when torch has one)."""

    backend_name = "torch"

    def __init__(
        self,
        package_dir: Path,
        metadata: ModelMetadata,
        options: EngineOptions | None = None,
        instance_stage: bool = False,
    ) -> None:
        options = options or EngineOptions()
        torch = require("torch", "export", "running a model with the torch backend")
        self._torch = torch
        self.metadata = metadata
        self.options = options
        self.device = torch.device(f"cuda:{options.device}" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cuda" and options.precision == "fp32":
            torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32 (process-wide torch setting)
        if self.device.type == "cpu":
            if options.precision == "fp16":
                raise EngineError(
                    "the torch backend runs fp16 only on a CUDA GPU and torch sees none; "
                    'set model.precision = "fp32"'
                )
            torch.set_num_threads(options.threads)
            torch.set_flush_denormal(True)
        files = metadata.files
        if files.torch_program is None:
            raise ModelPackageError(
                f"{package_dir} has no torch program (files.torch_program, model.pt2), which the torch "
                f"backend runs; re-export it with this rtpose version, or use the onnxruntime backend"
            )
        frame = torch.zeros(metadata.frame_shape, dtype=torch.uint8)
        module = self._load(Path(package_dir) / files.torch_program)
        self._full = self._runner(module, [frame], "the full graph")
        self._instance: _Runner | None = None
        if instance_stage:
            if files.instance_torch_program is None:
                raise ModelPackageError(
                    f"{package_dir} has no instance-stage program (files.instance_torch_program), which "
                    f"fast mode needs; re-export the package with this rtpose version"
                )
            centroids = torch.zeros((metadata.max_instances, 2), dtype=torch.float32)
            module = self._load(Path(package_dir) / files.instance_torch_program)
            self._instance = self._runner(module, [frame, centroids], "the instance stage")
        self._closed = False
        self.infer(np.zeros(metadata.frame_shape, np.uint8))

    def _load(self, path: Path) -> Any:
        try:
            return load_program(self._torch, path, self.device)
        except Exception as error:
            raise ModelPackageError(f"torch cannot load {path}: {error}") from error

    def _runner(self, module: Any, examples: list[Any], what: str) -> _Runner:
        """A _Runner (warm-up runs, CUDA graph capture); its failures become EngineError."""
        try:
            return _Runner(self._torch, module, examples, self.device, self.options)
        except Exception as error:
            raise EngineError(
                f"torch cannot run {what} on {self.device} ({self.options.precision}): {error}"
            ) from error

    def describe(self) -> str:
        torch = self._torch
        if self.device.type == "cuda":
            name = torch.cuda.get_device_name(self.device)
            graph = "CUDA graph" if self.options.cuda_graph else "no CUDA graph"
            return f"torch {torch.__version__} on {name} ({self.device}), {self.options.precision}, {graph}"
        return f"torch {torch.__version__} on the CPU, {self.options.threads} thread(s), fp32"

    def pinned_frame_buffer(self) -> npt.NDArray[np.uint8]:
        """A frame-sized uint8 array in pinned host memory (uploads from it are fastest)."""
        pin = self.device.type == "cuda"
        tensor = self._torch.zeros(self.metadata.frame_shape, dtype=self._torch.uint8, pin_memory=pin)
        array: npt.NDArray[np.uint8] = tensor.numpy()
        return array

    def infer(self, frame: npt.NDArray[np.uint8]) -> Poses:
        if self._closed:
            raise EngineError("the engine is closed; load the model again")
        image = check_frame(frame, self.metadata)
        try:
            results = self._full.run([image])
        except Exception as error:
            raise EngineError(f"torch failed on a frame: {error}") from error
        return poses_from_outputs(results)

    def infer_instances(self, frame: npt.NDArray[np.uint8], centroids: FloatArray) -> InstanceStageResult:
        if self._closed:
            raise EngineError("the engine is closed; load the model again")
        if self._instance is None:
            raise EngineError("the instance stage was not loaded; load the engine with fast mode enabled")
        image = check_frame(frame, self.metadata)
        centres = check_centroids(centroids, self.metadata)
        try:
            results = self._instance.run([image, centres])
        except Exception as error:
            raise EngineError(f"torch failed on a frame (instance stage): {error}") from error
        return InstanceStageResult(*results)

    def close(self) -> None:
        self._closed = True
