"""The Engine Protocol: one model package, frames in, poses out.

Lifecycle:
1. ``rtpose.engine.load(path, backend, threads)`` validates the package (``read_metadata``: format,
   hash of the graph) and builds the backend; the backend loads the graph and runs one warm-up
   frame, so the first real frame does not pay for allocations.
2. ``infer(frame)`` any number of times, from one thread at a time (the hot loop). It is
   synchronous: when it returns, the poses are final.
3. ``close()`` once at the end; it releases the runtime's resources and is idempotent. ``infer``
   after ``close`` raises EngineError.

Optional, for fast mode (``rtpose.engine.fast_mode``): ``infer_instances(frame, centroids)`` runs
the package's instance stage alone on crops around given centres (``InstanceStageEngine``).
Backends also have ``describe()``: one line naming the backend, device and settings.

Frames: uint8, H×W or H×W×C with the package's H, W and C (``metadata.frame_shape``); an H×W frame
is taken as one channel. Engines do not keep references to the frame after ``infer`` returns, so
the caller may reuse its buffer. The frame is read in place (no host-side copy of a C-contiguous
frame: ONNX Runtime and torch on the CPU read the caller's buffer, GPU backends upload straight
from it, at full speed when it is pinned memory such as ``pinned_frame_buffer()``). The returned
Poses own their arrays (nothing is overwritten by later frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from rtpose.core.errors import EngineError
from rtpose.core.model_metadata import ModelMetadata
from rtpose.core.types import BoolArray, FloatArray, ImageArray, Poses


@runtime_checkable
class Engine(Protocol):
    """What the hot loop needs from an inference backend."""

    metadata: ModelMetadata

    def infer(self, frame: npt.NDArray[np.uint8]) -> Poses:
        """Poses found in one frame (uint8 H×W or H×W×C); raises EngineError on a bad frame."""
        ...

    def close(self) -> None:
        """Release the backend's resources; idempotent."""
        ...


@dataclass(slots=True)
class InstanceStageResult:
    """What the instance stage alone gives for K crop centres (see InstanceStageEngine)."""

    points: FloatArray
    point_scores: FloatArray
    valid: BoolArray
    class_probs: FloatArray | None = None


@runtime_checkable
class InstanceStageEngine(Engine, Protocol):
    """An Engine that can also run the package's instance stage on its own (fast mode)."""

    def infer_instances(self, frame: npt.NDArray[np.uint8], centroids: FloatArray) -> InstanceStageResult:
        """Points for crops around ``centroids`` (K×2 float32 frame pixels; NaN = empty slot)."""
        ...


def poses_from_outputs(results: list[Any]) -> Poses:
    """The fused graph's outputs in package order (points, point_scores, instance_scores, valid,
    centroids[, class_probs]) as ``Poses``; every backend returns its arrays this way."""
    points, point_scores, instance_scores, valid, centroids = results[:5]
    return Poses(
        points=points,
        point_scores=point_scores,
        instance_scores=instance_scores,
        valid=valid,
        centroids=centroids,
        class_probs=results[5] if len(results) > 5 else None,
    )


def check_centroids(centroids: FloatArray, metadata: ModelMetadata) -> FloatArray:
    """Crop centres as the instance graph takes them (K×2 float32, C-contiguous), or EngineError."""
    expected = (metadata.max_instances, 2)
    if not isinstance(centroids, np.ndarray) or centroids.shape != expected:
        got = centroids.shape if isinstance(centroids, np.ndarray) else type(centroids).__name__
        raise EngineError(f"centroids must be a float32 array of shape {expected} (K×2, x y), got {got}")
    return np.ascontiguousarray(centroids, dtype=np.float32)


def check_frame(frame: npt.NDArray[np.uint8], metadata: ModelMetadata) -> ImageArray:
    """The frame as the graph takes it (H×W×C, C-contiguous), or EngineError saying why not.

    Adds the channel axis of an H×W frame (a view, no copy); copies only a non-contiguous frame.
    """
    expected = metadata.frame_shape
    if not isinstance(frame, np.ndarray):
        raise EngineError(
            f"frame must be a numpy array of uint8 {_shape_text(expected)}, got {type(frame).__name__}"
        )
    if frame.dtype != np.uint8:
        raise EngineError(
            f"frame must be uint8 {_shape_text(expected)} (model {metadata.name!r}), got {frame.dtype} "
            f"{_shape_text(frame.shape)}"
        )
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.shape != expected:
        raise EngineError(
            f"frame must be {_shape_text(expected)} (H×W×C) for model {metadata.name!r}, got "
            f"{_shape_text(frame.shape)}; set the camera's frame size to the model's input size"
        )
    return np.ascontiguousarray(frame)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(size) for size in shape) if shape else "a scalar"
