"""A run as CSV, for quick looks (spreadsheets, pandas, MATLAB's ``readtable``).

One row per frame and instance slot (K rows per frame, empty slots included, so every frame and
its rule states appear). Columns: ``frame_id``, ``time_s`` (the frame's time, seconds from the
first frame), ``dropped_before``, the host timestamps (ns), ``slot``, ``valid``, ``animal`` (empty
when the instance has no identity), ``instance_score``, ``centroid_x/y``, then ``<node>_x``,
``<node>_y``, ``<node>_score`` per node, ``class_<name>`` per class (ID models), and
``rule_<name>`` / ``output_<name>`` (0/1, the state after the frame). Floats are written with 9
significant digits, which reproduces the recorded float32 values exactly; missing points are
``nan``. Needs no extra.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rtpose.convert.run_data import RunData
from rtpose.core.frame_record import TIMESTAMP_FIELDS

Progress = Callable[[int, int], None]
_CHUNK_FRAMES = 4096


def header(run: RunData) -> list[str]:
    columns = ["frame_id", "time_s", "dropped_before", "camera_timestamp_ns", *TIMESTAMP_FIELDS]
    columns += ["slot", "valid", "animal", "instance_score", "centroid_x", "centroid_y"]
    for node in run.node_names:
        columns += [f"{node}_x", f"{node}_y", f"{node}_score"]
    columns += [f"class_{name}" for name in run.class_names]
    columns += [f"rule_{name}" for name in run.rule_names]
    columns += [f"output_{name}" for name in run.output_names]
    return columns


def write_csv(run: RunData, path: Path, progress: Progress | None = None) -> Path:
    """Write ``run`` to ``path`` (see the module docstring); returns the path."""
    frames = run.frames
    times_ns = run.frame_times_ns
    first_ns = int(times_ns[0]) if len(times_ns) else 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header(run))
        for start in range(0, len(frames), _CHUNK_FRAMES):
            chunk = frames[start : start + _CHUNK_FRAMES]
            writer.writerows(_rows(run, chunk, (times_ns[start : start + len(chunk)] - first_ns) / 1e9))
            if progress is not None:
                progress(start + len(chunk), len(frames))
    return Path(path)


def _text(values: np.ndarray) -> np.ndarray:
    """Floats as text with 9 significant digits (exact for float32)."""
    return np.char.mod("%.9g", values.astype(np.float64))


def _rows(run: RunData, chunk: np.ndarray, times_s: np.ndarray) -> list[list[str]]:
    n, k = len(chunk), chunk["points"].shape[1]
    animals = np.array([*run.animal_names, ""], dtype=object)  # index -1 → ""
    identities = chunk["identities"].astype(np.int64)
    identities[(identities < 0) | (identities >= len(run.animal_names))] = -1
    per_frame = [
        chunk["frame_id"].astype(str),
        np.char.mod("%.9f", times_s),
        chunk["dropped_before"].astype(str),
        chunk["camera_timestamp_ns"].astype(str),
        *[chunk[name].astype(str) for name in TIMESTAMP_FIELDS],
    ]
    rule_columns = [chunk["rule_active"][:, index].astype(str) for index in range(len(run.rule_names))]
    output_columns = [chunk["output_on"][:, index].astype(str) for index in range(len(run.output_names))]
    points, scores = _text(chunk["points"]), _text(chunk["point_scores"])
    instance_scores, centroids = _text(chunk["instance_scores"]), _text(chunk["centroids"])
    class_probs = _text(chunk["class_probs"]) if run.class_names else None
    rows: list[list[str]] = []
    for frame in range(n):
        frame_values = [str(column[frame]) for column in per_frame]
        state_values = [str(column[frame]) for column in (*rule_columns, *output_columns)]
        for slot in range(k):
            row = [*frame_values, str(slot), "1" if chunk["valid"][frame, slot] else "0"]
            row += [animals[identities[frame, slot]], instance_scores[frame, slot]]
            row += [centroids[frame, slot, 0], centroids[frame, slot, 1]]
            for node in range(len(run.node_names)):
                row += [points[frame, slot, node, 0], points[frame, slot, node, 1], scores[frame, slot, node]]
            if class_probs is not None:
                row += list(class_probs[frame, slot])
            rows.append(row + state_values)
    return rows
