"""Reads a run folder's recording, including one left by a killed process.

A killed writer can leave a partial last frame record and a partial last event line; both are
ignored. Anything else wrong raises ``RunFolderError`` naming the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.record.layout import (
    EVENTS_FILE,
    FRAMES_FILE,
    FRAMES_LAYOUT_FILE,
    RunFolderError,
    dtype_from_description,
)


def read_frame_dtype(run_dir: Path) -> np.dtype:
    """The frame record dtype ``frames.json`` describes."""
    path = _existing(Path(run_dir), FRAMES_LAYOUT_FILE)
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path} is not valid JSON: {error}") from None
    return dtype_from_description(description, path)


def read_frames(run_dir: Path) -> np.ndarray:
    """Every complete frame record in ``frames.bin``, as a structured array (one row per frame)."""
    dtype = read_frame_dtype(run_dir)
    path = _existing(Path(run_dir), FRAMES_FILE)
    count = path.stat().st_size // dtype.itemsize
    return np.fromfile(path, dtype=dtype, count=count)


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete event in ``events.jsonl``, oldest first."""
    path = _existing(Path(run_dir), EVENTS_FILE)
    lines = path.read_bytes().split(b"\n")
    events = []
    for number, line in enumerate(lines, start=1):
        is_last = number == len(lines)
        if not line.strip():
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            if is_last:
                break  # the partial last line of a killed writer
            raise RunFolderError(f"{path}, line {number}: not a valid JSON event ({error})") from None
        if not isinstance(event, dict):
            raise RunFolderError(f"{path}, line {number}: expected a JSON object, got {type(event).__name__}")
        events.append(event)
    return events


def _existing(run_dir: Path, name: str) -> Path:
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a run folder: no such directory")
    path = run_dir / name
    if not path.is_file():
        raise RunFolderError(f"{path} is missing: {run_dir} is not a complete rtpose run folder")
    return path
