"""ONNX Runtime backend: runs a package's ``model.onnx`` on the CPU, CUDA or TensorRT provider.

Install: ``pip install 'rtpose[onnx]'`` (the ``onnxruntime`` wheel, CPU only). On GPU machines
``onnxruntime-gpu`` (``rtpose[onnx-gpu]``) brings the CUDA and TensorRT execution providers instead; the
two wheels must not be installed together (they share the ``onnxruntime`` module).

Providers: ``EngineOptions.providers`` names them in order of preference (``cpu``, ``cuda``,
``tensorrt``); a provider that this ONNX Runtime lacks is an error that says which wheel has it.
Empty = by availability: CUDA when the wheel has it, then the CPU. The TensorRT provider is only
used when asked for (it builds engines at start-up; the ``tensorrt`` backend does that with a
plan cache and progress instead).

Threads, chosen for latency, not throughput (the loop, grab and side channels have their own
threads): ``intra_op_num_threads`` from the config (1 or 2 is usually fastest for small graphs),
one inter-op thread, sequential execution, all graph optimisations. Worker-thread spinning is off
unless ``spinning`` is set: spinning saves wake-up latency (tens of µs) but keeps a core busy per
worker, which competes with the loop's own threads on small machines. With one thread there are
no workers and the setting does nothing.

The input frame is passed to ``session.run`` as is (a contiguous uint8 array is read in place);
the outputs are the fresh arrays ONNX Runtime returns, wrapped in Poses without copying.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rtpose.core.errors import EngineError, ModelPackageError
from rtpose.core.extras import require
from rtpose.core.model_metadata import (
    CENTROIDS_INPUT_NAME,
    CLASS_PROBS_NAME,
    INPUT_NAME,
    INSTANCE_OUTPUT_NAMES,
    OUTPUT_NAMES,
    ModelMetadata,
)
from rtpose.core.types import FloatArray, Poses
from rtpose.engine.options import ORT_PROVIDERS, EngineOptions
from rtpose.engine.protocol import InstanceStageResult, check_centroids, check_frame, poses_from_outputs

GPU_WHEEL_HINT = "pip uninstall -y onnxruntime && pip install 'rtpose[onnx-gpu]' (onnxruntime-gpu)"


def providers_on_device(providers: list[str], device: int) -> list[str | tuple[str, dict[str, str]]]:
    """``providers`` with the GPU ones told which CUDA device to use (model.gpu)."""
    on_gpu = (ORT_PROVIDERS["cuda"], ORT_PROVIDERS["tensorrt"])
    return [(name, {"device_id": str(device)}) if name in on_gpu else name for name in providers]


def choose_providers(requested: tuple[str, ...], available: list[str]) -> list[str]:
    """ONNX Runtime provider names for ``requested`` short names (empty = by availability)."""
    if not requested:
        preferred = [ORT_PROVIDERS["cuda"]] if ORT_PROVIDERS["cuda"] in available else []
        return [*preferred, ORT_PROVIDERS["cpu"]]
    chosen = [ORT_PROVIDERS[name] for name in requested]
    missing = [name for name in chosen if name not in available]
    if missing:
        raise EngineError(
            f"ONNX Runtime here has no {', '.join(missing)} (it has {', '.join(available)}); "
            f'for the GPU providers: {GPU_WHEEL_HINT}, or set model.onnxruntime_providers = ["cpu"]'
        )
    if ORT_PROVIDERS["cpu"] not in chosen:
        chosen.append(ORT_PROVIDERS["cpu"])  # the fallback for ops a GPU provider does not take
    return chosen


class OnnxRuntimeEngine:
    """Engine on an ONNX Runtime InferenceSession."""

    backend_name = "onnxruntime"

    def __init__(
        self,
        package_dir: Path,
        metadata: ModelMetadata,
        threads: int = 1,
        options: EngineOptions | None = None,
        instance_stage: bool = False,
    ) -> None:
        options = options or EngineOptions(threads=threads)
        if threads < 1:
            raise EngineError(f"threads must be at least 1, got {threads}")
        if options.precision != "fp32":
            raise EngineError(
                'the onnxruntime backend runs model.onnx in fp32; set model.precision = "fp32" or use '
                "the tensorrt backend for fp16"
            )
        self._ort = require("onnxruntime", "onnx", "running a model with ONNX Runtime")
        self.metadata = metadata
        self.options = options
        self._output_names = list(OUTPUT_NAMES) + ([CLASS_PROBS_NAME] if metadata.class_names else [])
        self.providers = choose_providers(options.providers, self._ort.get_available_providers())
        onnx_path = Path(package_dir) / metadata.files.onnx
        self._session: Any = self._open(onnx_path)
        self._check_signature(onnx_path)
        self._instance_session: Any = None
        if instance_stage:
            if metadata.files.instance_onnx is None:
                raise ModelPackageError(
                    f"{package_dir} has no instance-stage graph (files.instance_onnx), which fast mode "
                    f"needs; re-export the package with this rtpose version"
                )
            self._instance_session = self._open(Path(package_dir) / metadata.files.instance_onnx)
        self.infer(np.zeros(metadata.frame_shape, np.uint8))

    def _open(self, onnx_path: Path) -> Any:
        ort = self._ort
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self.options.threads
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        spinning = "1" if self.options.spinning else "0"
        session_options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        session_options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
        try:
            providers = providers_on_device(self.providers, self.options.device)
            return ort.InferenceSession(str(onnx_path), session_options, providers=providers)
        except Exception as error:  # ORT raises its own exception types, all bad-graph problems here
            raise ModelPackageError(f"ONNX Runtime cannot load {onnx_path}: {error}") from error

    def _check_signature(self, onnx_path: Path) -> None:
        inputs = {node.name: node for node in self._session.get_inputs()}
        outputs = {node.name for node in self._session.get_outputs()}
        frame = inputs.get(INPUT_NAME)
        if frame is None or frame.type != "tensor(uint8)" or tuple(frame.shape) != self.metadata.frame_shape:
            got = f"{frame.type} {frame.shape}" if frame is not None else f"inputs {sorted(inputs)}"
            raise ModelPackageError(
                f"{onnx_path}: expected input {INPUT_NAME!r} uint8 {list(self.metadata.frame_shape)} as the "
                f"metadata says, got {got}"
            )
        missing = [name for name in self._output_names if name not in outputs]
        if missing:
            raise ModelPackageError(f"{onnx_path}: the graph lacks the outputs {missing}")

    def describe(self) -> str:
        return (
            f"onnxruntime {self._ort.__version__}, providers {self.providers}, "
            f"{self.options.threads} intra-op thread(s), spinning {'on' if self.options.spinning else 'off'}"
        )

    def infer(self, frame: npt.NDArray[np.uint8]) -> Poses:
        if self._session is None:
            raise EngineError("the engine is closed; load the model again")
        image = check_frame(frame, self.metadata)
        try:
            results = self._session.run(self._output_names, {INPUT_NAME: image})
        except Exception as error:
            raise EngineError(f"ONNX Runtime failed on a frame: {error}") from error
        return poses_from_outputs(results)

    def infer_instances(self, frame: npt.NDArray[np.uint8], centroids: FloatArray) -> InstanceStageResult:
        if self._session is None:
            raise EngineError("the engine is closed; load the model again")
        if self._instance_session is None:
            raise EngineError("the instance stage was not loaded; load the engine with fast mode enabled")
        image = check_frame(frame, self.metadata)
        centres = check_centroids(centroids, self.metadata)
        names = list(INSTANCE_OUTPUT_NAMES) + ([CLASS_PROBS_NAME] if self.metadata.class_names else [])
        try:
            results = self._instance_session.run(names, {INPUT_NAME: image, CENTROIDS_INPUT_NAME: centres})
        except Exception as error:
            raise EngineError(f"ONNX Runtime failed on a frame (instance stage): {error}") from error
        return InstanceStageResult(*results)

    def close(self) -> None:
        self._session = None
        self._instance_session = None
