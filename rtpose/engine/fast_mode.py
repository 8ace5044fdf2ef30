"""Fast mode: skip the centroid network on most frames by cropping where the animals just were.

At high frame rates an animal moves a few pixels between frames, well inside the margin the
instance network was trained with (crops jittered around the anchor). So on most frames this
wrapper runs only the package's instance stage (``instance.onnx`` / ``instance.pt2``), with crops
centred on the previous frame's anchor points (``metadata.anchor_node``; the mean of the found
nodes when the package has none). The full graph runs instead:

- on the first frame and every ``refresh_every_frames`` frames (new animals can only be found by
  the centroid network);
- when the previous frame had no animals (only the centroid network finds new ones);
- when the previous poses cannot place a crop (an instance's anchor was not found);
- when an instance's score on a fast frame drops below ``min_instance_score`` (the mean of its
  node scores, 0 for missing nodes): the full graph then reruns on the same frame, so a lost
  animal costs one slower frame rather than a wrong pose;
- when the number of animals changes: a full frame that finds a different number of animals than
  the full frame before it is followed by another full frame, and a fast frame that loses an animal
  is redone in full.

Poses of fast frames: points, node scores and (ID models) class probabilities from the instance
stage; ``centroids`` are the crop centres used; ``instance_scores`` carry the last full frame's
centroid scores. ``counts`` says how many frames took which path and why. Off by default
(``[model] fast_mode``); its accuracy cost on moving synthetic flies is in
benchmarks/results/engine_fast_mode.md.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from rtpose.core.types import FloatArray, Poses
from rtpose.engine.options import FastModeOptions
from rtpose.engine.protocol import InstanceStageEngine

FULL_REASONS = (
    "first frame",
    "periodic refresh",
    "nothing tracked",
    "anchor lost",
    "score dropped",
    "animal count changed",
)


class FastModeEngine:
    """An Engine that wraps a backend able to run the instance stage alone."""

    def __init__(self, engine: InstanceStageEngine, options: FastModeOptions) -> None:
        self.engine = engine
        self.metadata = engine.metadata
        self.options = options
        anchor = self.metadata.anchor_node
        self._anchor_index = self.metadata.node_names.index(anchor) if anchor is not None else None
        self._previous: Poses | None = None
        self._frames_since_full = 0
        self._last_full_count: int | None = None
        self._count_changed = False
        self.counts: Counter[str] = Counter()

    @property
    def backend_name(self) -> str:
        return f"{getattr(self.engine, 'backend_name', type(self.engine).__name__)}+fast"

    def describe(self) -> str:
        inner = getattr(self.engine, "describe", lambda: type(self.engine).__name__)()
        return (
            f"{inner}; fast mode (centroid network every {self.options.refresh_every_frames} frames, "
            f"min instance score {self.options.min_instance_score})"
        )

    def infer(self, frame: npt.NDArray[np.uint8]) -> Poses:
        reason = self._planned_full_reason()
        centres = None
        if reason is None:
            centres = self._crop_centres()
            if centres is None:
                reason = "anchor lost"
        if reason is not None or centres is None:
            return self._full(frame, reason or "anchor lost")
        assert self._previous is not None
        result = self.engine.infer_instances(frame, centres)
        previous_valid = self._previous.valid
        scores = np.where(previous_valid, result.point_scores.mean(axis=1), np.inf)
        if (scores < self.options.min_instance_score).any():
            return self._full(frame, "score dropped")
        if int(result.valid.sum()) != int(previous_valid.sum()):
            return self._full(frame, "animal count changed")
        poses = Poses(
            points=result.points,
            point_scores=result.point_scores,
            instance_scores=np.where(result.valid, self._previous.instance_scores, 0.0).astype(np.float32),
            valid=result.valid,
            centroids=centres,
            class_probs=result.class_probs,
        )
        self.counts["instance stage only"] += 1
        self._frames_since_full += 1
        self._previous = poses
        return poses

    def _planned_full_reason(self) -> str | None:
        if self._previous is None:
            return "first frame"
        if self._count_changed:
            return "animal count changed"
        if self._frames_since_full + 1 >= self.options.refresh_every_frames:
            return "periodic refresh"
        if not self._previous.valid.any():
            return "nothing tracked"  # only the centroid network can find animals
        return None

    def _full(self, frame: npt.NDArray[np.uint8], reason: str) -> Poses:
        poses = self.engine.infer(frame)
        count = int(poses.valid.sum())
        self._count_changed = self._last_full_count is not None and count != self._last_full_count
        self._last_full_count = count
        self.counts[f"full: {reason}"] += 1
        self._frames_since_full = 0
        self._previous = poses
        return poses

    def _crop_centres(self) -> FloatArray | None:
        """K×2 crop centres from the previous poses (NaN for empty slots); None if one is missing."""
        previous = self._previous
        assert previous is not None
        if self._anchor_index is not None:
            centres = previous.points[:, self._anchor_index, :].copy()
        else:
            with np.errstate(invalid="ignore"):
                found = np.isfinite(previous.points[..., 0])
                totals = np.where(found[..., None], previous.points, 0.0).sum(axis=1)
                centres = (totals / np.maximum(found.sum(axis=1), 1)[:, None]).astype(np.float32)
                centres[~found.any(axis=1)] = np.nan
        if not np.isfinite(centres[previous.valid]).all():
            return None
        centres[~previous.valid] = np.nan
        return centres.astype(np.float32)

    def close(self) -> None:
        self.engine.close()
