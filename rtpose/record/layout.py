"""The run folder's recording files and how ``frames.json`` describes ``frames.bin``.

- ``frames.json``: the record layout, field by field (name, NumPy dtype string, shape, byte
  offset), the record size and the format version. A reader needs nothing else.
- ``frames.bin``: the frame records back to back, each exactly ``record_size_bytes`` long, in
  the byte order the dtype strings state (little-endian). A killed writer may leave a partial
  last record; readers ignore it.
- ``events.jsonl``: one JSON object per line (``kind``, ``name``, ``frame_id``, ``t_ns``,
  ``value``, ``detail``); a killed writer may leave a partial last line.
- ``video.mkv`` + ``video_frame_ids.bin`` (only with ``record.video``): the raw frames, lossless
  (FFV1), and for each video frame, in order, the camera frame id it shows (little-endian uint64).
  Frames the video writer could not take are missing from both (counted in the summary), so the
  mapping, not the position, ties a video frame to its record.

``frames.json`` may also hold ``labels`` (the names behind the record's indices: ``nodes``,
``animals``, ``rules``, ``outputs``, ``classes``) and ``clock`` (``unix_time_s`` and ``clock_ns``
read together when recording started, which place the record's process-clock timestamps in wall
time). Both are optional for readers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rtpose.core.errors import RtposeError

FRAMES_LAYOUT_FILE = "frames.json"
FRAMES_FILE = "frames.bin"
EVENTS_FILE = "events.jsonl"
VIDEO_FILE = "video.mkv"
VIDEO_FRAME_IDS_FILE = "video_frame_ids.bin"
VIDEO_FRAME_ID_DTYPE = np.dtype("<u8")
FORMAT_NAME = "rtpose-frames"
FORMAT_VERSION = 1


class RunFolderError(RtposeError):
    """A run folder's recording is missing or unreadable; the message names the file."""


def video_frame_ids_path(video_path: Path) -> Path:
    """The sidecar of a recorded video: ``video.mkv`` → ``video_frame_ids.bin`` beside it."""
    return video_path.with_name(f"{video_path.stem}_frame_ids.bin")


def describe_dtype(dtype: np.dtype) -> dict[str, Any]:
    """The ``frames.json`` content for records of ``dtype`` (a structured dtype)."""
    if dtype.names is None or dtype.fields is None:
        raise ValueError(f"frame records need a structured dtype, got {dtype}")
    fields = []
    for name in dtype.names:
        field_dtype, offset = dtype.fields[name][:2]
        base, shape = field_dtype.subdtype if field_dtype.subdtype else (field_dtype, ())
        if base.names is not None or base.hasobject:
            raise ValueError(f"field {name!r} must be a plain numeric or bool dtype, got {base}")
        fields.append({"name": name, "dtype": base.str, "shape": list(shape), "offset": offset})
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "record_size_bytes": dtype.itemsize,
        "fields": fields,
    }


def dtype_from_description(description: object, path: Path) -> np.dtype:
    """Rebuild the record dtype from ``frames.json`` content; RunFolderError naming ``path``."""
    if not isinstance(description, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    if description.get("format") != FORMAT_NAME:
        raise RunFolderError(f"{path}: 'format' is {description.get('format')!r}, expected {FORMAT_NAME!r}")
    if description.get("format_version") != FORMAT_VERSION:
        raise RunFolderError(
            f"{path}: format_version {description.get('format_version')!r} is not supported "
            f"(this rtpose reads {FORMAT_VERSION}); upgrade rtpose"
        )
    size = description.get("record_size_bytes")
    fields = description.get("fields")
    if type(size) is not int or size <= 0 or not isinstance(fields, list) or not fields:
        raise RunFolderError(f"{path}: 'record_size_bytes' (a positive integer) or 'fields' is missing")
    names, formats, offsets = [], [], []
    for index, field in enumerate(fields):
        try:
            name, dtype_name, shape, offset = field["name"], field["dtype"], field["shape"], field["offset"]
            base = np.dtype(dtype_name)
            if not isinstance(name, str) or base.hasobject or base.names is not None:
                raise ValueError("not a plain named field")
            formats.append((base, tuple(int(axis) for axis in shape)) if shape else base)
            names.append(name)
            offsets.append(int(offset))
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
            raise RunFolderError(f"{path}: field {index} is invalid ({problem})") from None
    try:
        dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": size})
    except Exception as error:
        raise RunFolderError(f"{path}: the fields do not form a valid record layout ({error})") from None
    return dtype
