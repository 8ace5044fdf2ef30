"""ONNX Runtime backend: runs a package's ``model.onnx`` on the CPU execution provider.

Install: ``pip install 'rtpose[onnx]'`` (the ``onnxruntime`` wheel; on GPU machines
``onnxruntime-gpu`` provides the CUDA and TensorRT providers instead, through ``rtpose[gpu]``).

Settings chosen for latency, not throughput: ``intra_op_num_threads`` from the caller (1 or 2 is
usually fastest for the small demo graph: the ops are too small to split well), one inter-op
thread, sequential execution, all graph optimisations. ONNX Runtime's worker threads spin while
waiting for work by default, which costs CPU but saves wake-up latency.

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
from rtpose.core.model_metadata import CLASS_PROBS_NAME, INPUT_NAME, OUTPUT_NAMES, ModelMetadata
from rtpose.core.types import Poses
from rtpose.engine.protocol import check_frame


class OnnxRuntimeEngine:
    """Engine on an ONNX Runtime InferenceSession (CPU)."""

    def __init__(self, package_dir: Path, metadata: ModelMetadata, threads: int = 1) -> None:
        if threads < 1:
            raise EngineError(f"threads must be at least 1, got {threads}")
        ort = require("onnxruntime", "onnx", "running a model with ONNX Runtime")
        self.metadata = metadata
        self._output_names = list(OUTPUT_NAMES) + ([CLASS_PROBS_NAME] if metadata.class_names else [])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        onnx_path = Path(package_dir) / metadata.files.onnx
        try:
            self._session: Any = ort.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT raises its own exception types, all bad-graph problems here
            raise ModelPackageError(f"ONNX Runtime cannot load {onnx_path}: {error}") from error
        self._check_signature(onnx_path)
        self.infer(np.zeros(metadata.frame_shape, np.uint8))

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

    def infer(self, frame: npt.NDArray[np.uint8]) -> Poses:
        if self._session is None:
            raise EngineError("the engine is closed; load the model again")
        image = check_frame(frame, self.metadata)
        try:
            results = self._session.run(self._output_names, {INPUT_NAME: image})
        except Exception as error:
            raise EngineError(f"ONNX Runtime failed on a frame: {error}") from error
        points, point_scores, instance_scores, valid, centroids = results[:5]
        return Poses(
            points=points,
            point_scores=point_scores,
            instance_scores=instance_scores,
            valid=valid,
            centroids=centroids,
            class_probs=results[5] if len(results) > 5 else None,
        )

    def close(self) -> None:
        self._session = None
