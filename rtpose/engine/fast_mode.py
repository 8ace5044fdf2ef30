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
- when two crop centres are closer than a quarter of the crop side (``crop_size / 4``): both
  crops would see the same animal and could lock onto it, so the centroid network decides. A
  fast frame whose new anchors come that close is redone in full;
- when an instance's score on a fast frame drops (the score: mean of its node scores, 0 for
  missing nodes): below ``min_instance_score`` for an animal that scored at least that on the
  last full frame, below half its last full-frame score for one that was already lower there (so
  a dim animal does not make every frame run twice). The full graph then reruns on the same
  frame, so a lost animal costs one slower frame rather than a wrong pose;
- when the number of animals changes: a full frame that finds a different number of animals than
  the full frame before it is followed by another full frame, and a fast frame that loses an
  animal (the instance stage does not find its anchor in its crop) is redone in full.

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
    "crops too close",
    "score dropped",
    "animal count changed",
)
SCORE_DROP_RATIO = 0.5  # an animal already below min_instance_score: a drop is halving its score
CROP_SEPARATION_FRACTION = 0.25  # crop centres closer than this × crop_size may share one animal


def instance_point_scores(point_scores: FloatArray) -> FloatArray:
    """K mean node scores (NaN counted as 0, like a node not found)."""
    scores: FloatArray = np.nan_to_num(point_scores, nan=0.0).mean(axis=1)
    return scores


class FastModeEngine:
    """An Engine that wraps a backend able to run the instance stage alone."""

    def __init__(self, engine: InstanceStageEngine, options: FastModeOptions) -> None:
        self.engine = engine
        self.metadata = engine.metadata
        self.options = options
        anchor = self.metadata.anchor_node
        self._anchor_index = self.metadata.node_names.index(anchor) if anchor is not None else None
        crop_size = self.metadata.instance.crop_size or 0
        self._min_crop_separation_px = CROP_SEPARATION_FRACTION * crop_size
        self._previous: Poses | None = None
        self._score_floors = np.zeros(self.metadata.max_instances, np.float32)
        self._frames_since_full = 0
        self._last_full_count: int | None = None
        self._count_changed = False
        self.counts: Counter[str] = Counter()
        if hasattr(engine, "pinned_frame_buffer"):  # the session puts its frame ring there
            self.pinned_frame_buffer = engine.pinned_frame_buffer
            self.frees_frame_buffers_on_close = getattr(engine, "frees_frame_buffers_on_close", False)

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
            centres = self._anchors(self._previous)
            if centres is None:
                reason = "anchor lost"
            elif self._too_close(centres):
                reason = "crops too close"
        if reason is not None or centres is None:
            return self._full(frame, reason or "anchor lost")
        previous = self._previous
        assert previous is not None
        result = self.engine.infer_instances(frame, centres)
        tracked = previous.valid
        scores = instance_point_scores(result.point_scores)
        if (tracked & (scores < self._score_floors)).any():
            return self._full(frame, "score dropped")
        poses = Poses(
            points=result.points,
            point_scores=result.point_scores,
            instance_scores=np.where(tracked, previous.instance_scores, 0.0).astype(np.float32),
            valid=tracked.copy(),
            centroids=centres,
            class_probs=result.class_probs,
        )
        anchors = self._anchors(poses)
        if anchors is None:  # a tracked animal's anchor is not in its crop: it was lost
            return self._full(frame, "animal count changed")
        if self._too_close(anchors):
            return self._full(frame, "crops too close")
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
        scores = np.where(poses.valid, instance_point_scores(poses.point_scores), 0.0)
        threshold = self.options.min_instance_score
        floors = np.where(scores >= threshold, threshold, SCORE_DROP_RATIO * scores)
        self._score_floors = floors.astype(np.float32)
        self.counts[f"full: {reason}"] += 1
        self._frames_since_full = 0
        self._previous = poses
        return poses

    def _anchors(self, poses: Poses | None) -> FloatArray | None:
        """K×2 anchor points of ``poses`` (NaN for empty slots); None if a valid slot has none."""
        assert poses is not None
        if self._anchor_index is not None:
            anchors = poses.points[:, self._anchor_index, :].astype(np.float32)
        else:
            with np.errstate(invalid="ignore"):
                found = np.isfinite(poses.points[..., 0])
                totals = np.where(found[..., None], poses.points, 0.0).sum(axis=1)
                anchors = (totals / np.maximum(found.sum(axis=1), 1)[:, None]).astype(np.float32)
                anchors[~found.any(axis=1)] = np.nan
        if not np.isfinite(anchors[poses.valid]).all():
            return None
        anchors[~poses.valid] = np.nan
        return anchors

    def _too_close(self, centres: FloatArray) -> bool:
        """Whether two crop centres (NaN rows: empty slots) are too close to crop two animals."""
        placed = centres[np.isfinite(centres).all(axis=1)]
        if len(placed) < 2:
            return False
        gaps = np.linalg.norm(placed[:, None, :] - placed[None, :, :], axis=-1)
        np.fill_diagonal(gaps, np.inf)
        return bool(gaps.min() < self._min_crop_separation_px)

    def close(self) -> None:
        self.engine.close()
