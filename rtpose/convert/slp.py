"""A run as a SLEAP ``.slp`` file (predictions), written with sleap-io: ``pip install 'rtpose[convert]'``.

- One skeleton: the model's nodes and edges, named after the model.
- One track per animal (``identity.animals``); an instance with no identity is untracked.
- Every valid instance slot becomes a ``PredictedInstance`` with its point scores and instance
  score; a node the model did not find stays missing (NaN), as in SLEAP.
- Frames without any instance are left out (SLEAP stores predicted frames only).
- Video: with a recorded video (``record.video``), the ``.slp`` references the run's
  ``video.mkv`` and frame indices are video frame indices (via the sidecar), so SLEAP shows the
  predictions on the frames they came from; frames the video writer dropped are left out and
  counted. Without one, frame indices are camera frame ids and the video is a placeholder path
  (``<run>/no-video-recorded.mkv``) that SLEAP asks to locate: for a run that replayed a video
  file (camera backend "video"), point it at that file (its frame ids are its frame indices).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.convert.run_data import RunData
from rtpose.core.extras import require

Progress = Callable[[int, int], None]
PLACEHOLDER_VIDEO = "no-video-recorded.mkv"


@dataclass(frozen=True)
class SlpReport:
    path: Path
    labeled_frames: int
    instances: int
    frames_without_video: int
    """Frames that had instances but are not in the recorded video (left out)."""


def write_slp(run: RunData, path: Path, progress: Progress | None = None) -> SlpReport:
    """Write ``run``'s predictions to ``path`` (see the module docstring)."""
    sio = require("sleap_io", "convert", "Conversion to SLEAP (.slp)")
    skeleton = sio.Skeleton(
        nodes=list(run.node_names),
        edges=[(run.node_names[a], run.node_names[b]) for a, b in run.edges],
        name=run.model_name,
    )
    tracks = [sio.Track(name=name) for name in run.animal_names]
    if run.video_path is not None:
        video = sio.Video(filename=str(run.video_path.resolve()), open_backend=False)
        index_of = run.video_index_by_frame_id()
    else:
        video = sio.Video(filename=str((run.run_dir / PLACEHOLDER_VIDEO).resolve()), open_backend=False)
        index_of = None
    labeled_frames: list[Any] = []
    instances = missing_video = 0
    frames = run.frames
    for number, record in enumerate(frames):
        valid = np.flatnonzero(record["valid"])
        if len(valid) == 0:
            continue
        frame_id = int(record["frame_id"])
        frame_idx = frame_id if index_of is None else index_of.get(frame_id)
        if frame_idx is None:
            missing_video += 1
            continue
        frame_instances = [_instance(sio, record, int(slot), skeleton, tracks) for slot in valid]
        labeled_frames.append(sio.LabeledFrame(video=video, frame_idx=frame_idx, instances=frame_instances))
        instances += len(frame_instances)
        if progress is not None and (number + 1) % 10_000 == 0:
            progress(number + 1, len(frames))
    labels = sio.Labels(labeled_frames=labeled_frames, videos=[video], skeletons=[skeleton], tracks=tracks)
    labels.provenance = {"source": "rtpose", "run_folder": str(run.run_dir.resolve())}
    sio.save_slp(labels, str(path), verbose=False)
    if progress is not None:
        progress(len(frames), len(frames))
    return SlpReport(Path(path), len(labeled_frames), instances, missing_video)


def _instance(sio: Any, record: np.void, slot: int, skeleton: Any, tracks: list[Any]) -> Any:
    identity = int(record["identities"][slot])
    track = tracks[identity] if 0 <= identity < len(tracks) else None
    return sio.PredictedInstance.from_numpy(
        points_data=np.asarray(record["points"][slot], np.float64),
        point_scores=np.asarray(record["point_scores"][slot], np.float64),
        score=float(record["instance_scores"][slot]),
        skeleton=skeleton,
        track=track,
    )
