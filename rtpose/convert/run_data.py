"""A recorded run as the converters see it: the frame records plus the names behind their indices.

Names come from ``frames.json``'s ``labels`` (written since the recording format gained them),
else from ``config.json`` and ``model.json``. A run killed mid-way (no ``summary.json``, a partial
last record) reads like any other, up to its last complete record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.core.frame_record import NO_CAMERA_TIMESTAMP
from rtpose.record.layout import (
    FRAMES_LAYOUT_FILE,
    VIDEO_FILE,
    VIDEO_FRAME_ID_DTYPE,
    RunFolderError,
    video_frame_ids_path,
)
from rtpose.record.reader import read_frames

CONFIG_FILE = "config.json"
MODEL_FILE = "model.json"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class RunData:
    """One run folder, read. ``frames`` is the structured record array (one row per frame)."""

    run_dir: Path
    frames: np.ndarray
    node_names: list[str]
    edges: list[tuple[int, int]]
    animal_names: list[str]
    rule_names: list[str]
    output_names: list[str]
    class_names: list[str]
    model_name: str
    frame_size: tuple[int, int]
    """(height, width) of the frames, in pixels."""
    clock: dict[str, float] | None
    """``unix_time_s`` and ``clock_ns`` read together at the start of recording, if recorded."""
    summary: dict[str, Any] | None
    """``summary.json``; None for a run that was killed before it could write one."""
    video_path: Path | None
    """The run's recorded video (``record.video``), if there is one."""
    video_frame_ids: np.ndarray | None
    """For each video frame, the camera frame id it shows (from the video's sidecar)."""

    @property
    def frame_times_ns(self) -> np.ndarray:
        """Each frame's time on the process clock: the camera's timestamp, else the grab time
        (the time the rules used, docs/decisions/0004)."""
        camera = self.frames["camera_timestamp_ns"].astype(np.int64)
        return np.where(camera != NO_CAMERA_TIMESTAMP, camera, self.frames["grab_ns"].astype(np.int64))

    def video_index_by_frame_id(self) -> dict[int, int]:
        """Camera frame id → index of the video frame showing it ({} without a video)."""
        if self.video_frame_ids is None:
            return {}
        return {int(frame_id): index for index, frame_id in enumerate(self.video_frame_ids)}


def read_run(run_dir: Path) -> RunData:
    """Read a run folder; RunFolderError naming the file and the fix when it is not one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a run folder: no such directory")
    if not (run_dir / FRAMES_LAYOUT_FILE).is_file():
        raise RunFolderError(
            f"{run_dir} is not an rtpose run folder ({FRAMES_LAYOUT_FILE} is missing); give the folder "
            "`rtpose run` recorded into (it holds frames.bin, frames.json and config.json)"
        )
    frames = read_frames(run_dir)
    layout = _json(run_dir / FRAMES_LAYOUT_FILE)
    config = _json(run_dir / CONFIG_FILE)
    model = _json(run_dir / MODEL_FILE)
    labels = layout.get("labels") or {}
    names = {
        "nodes": labels.get("nodes", model.get("node_names", [])),
        "animals": labels.get("animals", config.get("identity", {}).get("animals", [])),
        "rules": labels.get("rules", [rule["name"] for rule in config.get("rules", [])]),
        "outputs": labels.get("outputs", [o["name"] for o in config.get("daq", {}).get("outputs", [])]),
        "classes": labels.get("classes", model.get("class_names", [])),
    }
    _check_shapes(run_dir, frames, names)
    summary_path = run_dir / SUMMARY_FILE
    video_path = run_dir / VIDEO_FILE
    video_frame_ids = None
    if video_path.is_file():
        video_frame_ids = read_video_frame_ids(video_path)
    model_input = model.get("input", {})
    return RunData(
        run_dir=run_dir,
        frames=frames,
        node_names=list(names["nodes"]),
        edges=[(int(a), int(b)) for a, b in model.get("edges", [])],
        animal_names=list(names["animals"]),
        rule_names=list(names["rules"]),
        output_names=list(names["outputs"]),
        class_names=list(names["classes"]),
        model_name=str(model.get("name", "unknown")),
        frame_size=(int(model_input.get("height", 0)), int(model_input.get("width", 0))),
        clock=layout.get("clock"),
        summary=_json(summary_path) if summary_path.is_file() else None,
        video_path=video_path if video_path.is_file() else None,
        video_frame_ids=video_frame_ids,
    )


def read_video_frame_ids(video_path: Path) -> np.ndarray:
    """The camera frame id of each frame of a recorded video (its sidecar; a partial last entry of
    a killed writer is ignored). RunFolderError when the sidecar is missing."""
    path = video_frame_ids_path(Path(video_path))
    if not path.is_file():
        raise RunFolderError(
            f"{path} is missing: without it the frames of {video_path} cannot be matched to the "
            "record (it is written next to every video rtpose records)"
        )
    count = path.stat().st_size // VIDEO_FRAME_ID_DTYPE.itemsize
    return np.fromfile(path, dtype=VIDEO_FRAME_ID_DTYPE, count=count)


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RunFolderError(f"{path} is missing: {path.parent} is not a complete rtpose run folder")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(content, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    return content


def _check_shapes(run_dir: Path, frames: np.ndarray, names: dict[str, list[str]]) -> None:
    """The names must fit the record's arrays, or every converter would mislabel the data."""
    fields: dict[str, Any] = dict(frames.dtype.fields or {})
    expected = {
        "nodes": fields["points"][0].shape[1],
        "rules": fields["rule_active"][0].shape[0],
        "outputs": fields["output_on"][0].shape[0],
    }
    if "class_probs" in fields:
        expected["classes"] = fields["class_probs"][0].shape[1]
    for key, size in expected.items():
        if len(names[key]) != size:
            raise RunFolderError(
                f"{run_dir}: the record holds {size} {key} but the run's metadata names "
                f"{len(names[key])} ({names[key]}); config.json or model.json does not belong to "
                "this recording"
            )
