"""Decoding and validation of wire-format messages (version 1) into typed messages.

``decode_message(parts)`` never fails with anything but ``ValueError`` naming what is wrong, so a
subscriber can skip garbage from a foreign publisher and keep going.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgpack
import numpy as np
import numpy.typing as npt

from rtpose.stream.wire import (
    EVENT_TOPIC_PREFIX,
    FRAME_INFO_FIELDS,
    META_TOPIC_PREFIX,
    POSE_TOPIC_PREFIX,
    SCHEMA_VERSION,
)

_T = TypeVar("_T")
_ALLOWED_DTYPE_KINDS = "biuf"


@dataclass(frozen=True)
class PoseMessage:
    """One frame's poses. Arrays are read-only views of the received bytes."""

    camera: str
    seq: int
    frame_id: int
    dropped_before: int
    camera_timestamp_ns: int
    """-1 when the camera has none."""
    t_grab_ns: int
    t_engine_start_ns: int
    t_engine_end_ns: int
    t_rules_end_ns: int
    t_daq_write_ns: int
    t_publish_ns: int
    points: npt.NDArray[np.float32]
    point_scores: npt.NDArray[np.float32]
    instance_scores: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    identities: npt.NDArray[np.int16]
    centroids: npt.NDArray[np.float32]
    rule_active: npt.NDArray[np.uint8]
    output_on: npt.NDArray[np.uint8]
    arrays: dict[str, npt.NDArray[Any]]
    """Every payload array by name, including any this client does not know."""
    header: dict[str, Any]


@dataclass(frozen=True)
class EventMessage:
    seq: int | None
    """Counter over all events of this publisher (None from publishers before it was added)."""
    kind: str
    """``rule``, ``output``, ``limit``, ``error`` or ``control``."""
    name: str
    frame_id: int
    t_ns: int
    value: float
    detail: str
    header: dict[str, Any]


@dataclass(frozen=True)
class MetaMessage:
    camera: str
    node_names: list[str]
    edges: list[tuple[int, int]]
    animal_names: list[str]
    class_names: list[str]
    """Classes of a top-down ID model (empty for other models)."""
    rule_names: list[str]
    output_names: list[str]
    max_instances: int
    header: dict[str, Any]


Message = PoseMessage | EventMessage | MetaMessage

_POSE_ARRAY_LAYOUT = {  # name: (allowed dtypes, shape in terms of K, J, R, O)
    "points": (("<f4",), "KJ2"),
    "point_scores": (("<f4",), "KJ"),
    "instance_scores": (("<f4",), "K"),
    "valid": (("|b1", "|u1"), "K"),
    "identities": (("<i2",), "K"),
    "centroids": (("<f4",), "K2"),
    "rule_active": (("|u1",), "R"),
    "output_on": (("|u1",), "O"),
    "frame_info": (("<i8",), "F"),
}


Buffer = bytes | memoryview
"""A received frame: ``bytes``, or a ``memoryview`` of a ZeroMQ frame (``recv_multipart(copy=False)``)."""


def decode_message(parts: Sequence[Buffer]) -> Message:
    """Decode one multipart message ``[topic, header, payload...]``; ValueError if malformed.

    Pose arrays are ``np.frombuffer`` views of the payload buffers (no copy, read-only)."""
    if len(parts) < 2:
        raise ValueError(f"malformed message: expected at least 2 frames [topic, header], got {len(parts)}")
    try:
        topic = bytes(parts[0]).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("malformed message: the topic frame is not UTF-8") from None
    header = _unpack_header(topic, parts[1])
    if topic.startswith(POSE_TOPIC_PREFIX):
        return _decode_pose(topic, header, parts[2:])
    _expect_frames(topic, parts, 2)
    if topic.startswith(EVENT_TOPIC_PREFIX):
        return _decode_event(topic, header)
    if topic.startswith(META_TOPIC_PREFIX):
        return _decode_meta(topic, header)
    raise ValueError(f"malformed message: unknown topic {topic!r} (expected pose.*, event.* or meta.*)")


def _unpack_header(topic: str, raw: Buffer) -> dict[str, Any]:
    try:
        header = msgpack.unpackb(bytes(raw), raw=False, strict_map_key=False)
    except Exception as error:
        raise ValueError(
            f"malformed message on {topic!r}: the header is not valid msgpack ({error})"
        ) from None
    if not isinstance(header, dict) or not all(isinstance(key, str) for key in header):
        raise ValueError(f"malformed message on {topic!r}: the header is not a msgpack map with string keys")
    version = header.get("v")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ValueError(
            f"message on {topic!r} has schema version v={version!r}; this client reads v={SCHEMA_VERSION}"
        )
    return header


def _expect_frames(topic: str, parts: Sequence[Buffer], count: int) -> None:
    if len(parts) != count:
        raise ValueError(f"malformed message on {topic!r}: expected {count} frames, got {len(parts)}")


def _field(topic: str, header: dict[str, Any], key: str, kind: type[_T]) -> _T:
    if key not in header:
        raise ValueError(f"malformed message on {topic!r}: header field {key!r} is missing")
    value = header[key]
    wrong_bool = isinstance(value, bool) and kind is not bool
    if kind is float and isinstance(value, int) and not wrong_bool:
        value = float(value)
    if not isinstance(value, kind) or wrong_bool:
        raise ValueError(
            f"malformed message on {topic!r}: header field {key!r} must be {kind.__name__}, "
            f"got {type(value).__name__}"
        )
    return value


def _string_list(topic: str, header: dict[str, Any], key: str) -> list[str]:
    values = _field(topic, header, key, list)
    if not all(isinstance(value, str) for value in values):
        raise ValueError(f"malformed message on {topic!r}: header field {key!r} must be a list of strings")
    return values


def _decode_event(topic: str, header: dict[str, Any]) -> EventMessage:
    name = _field(topic, header, "name", str)
    if topic != EVENT_TOPIC_PREFIX + name:
        raise ValueError(f"malformed message on {topic!r}: the header names a different event {name!r}")
    seq = header.get("seq")
    return EventMessage(
        seq=_field(topic, header, "seq", int) if seq is not None else None,
        kind=_field(topic, header, "kind", str),
        name=name,
        frame_id=_field(topic, header, "frame_id", int),
        t_ns=_field(topic, header, "t_ns", int),
        value=_field(topic, header, "value", float),
        detail=_field(topic, header, "detail", str),
        header=header,
    )


def _decode_meta(topic: str, header: dict[str, Any]) -> MetaMessage:
    camera = _check_camera(topic, header, META_TOPIC_PREFIX)
    edges = _field(topic, header, "edges", list)
    if not all(_is_index_pair(edge) for edge in edges):
        raise ValueError(f"malformed message on {topic!r}: header field 'edges' must be a list of [int, int]")
    return MetaMessage(
        camera=camera,
        node_names=_string_list(topic, header, "node_names"),
        edges=[(edge[0], edge[1]) for edge in edges],
        animal_names=_string_list(topic, header, "animal_names"),
        class_names=_string_list(topic, header, "class_names") if "class_names" in header else [],
        rule_names=_string_list(topic, header, "rule_names"),
        output_names=_string_list(topic, header, "output_names"),
        max_instances=_field(topic, header, "max_instances", int),
        header=header,
    )


def _is_index_pair(edge: object) -> bool:
    return isinstance(edge, list) and len(edge) == 2 and all(type(node) is int for node in edge)


def _check_camera(topic: str, header: dict[str, Any], prefix: str) -> str:
    camera = _field(topic, header, "camera", str)
    if topic != prefix + camera:
        raise ValueError(f"malformed message on {topic!r}: the header names a different camera {camera!r}")
    return camera


def _decode_pose(topic: str, header: dict[str, Any], payload: Sequence[Buffer]) -> PoseMessage:
    camera = _check_camera(topic, header, POSE_TOPIC_PREFIX)
    descriptions = _field(topic, header, "arrays", list)
    if len(descriptions) != len(payload):
        raise ValueError(
            f"malformed message on {topic!r}: the header describes {len(descriptions)} arrays "
            f"but {len(payload)} payload frames follow"
        )
    arrays = {}
    for description, data in zip(descriptions, payload, strict=True):
        name, array = _decode_array(topic, description, data)
        arrays[name] = array
    _check_pose_arrays(topic, arrays)
    integers = {key: _field(topic, header, key, int) for key in FRAME_INFO_FIELDS}
    return PoseMessage(
        camera=camera,
        seq=_field(topic, header, "seq", int),
        **integers,
        points=arrays["points"],
        point_scores=arrays["point_scores"],
        instance_scores=arrays["instance_scores"],
        valid=arrays["valid"].view(np.bool_),
        identities=arrays["identities"],
        centroids=arrays["centroids"],
        rule_active=arrays["rule_active"],
        output_on=arrays["output_on"],
        arrays=arrays,
        header=header,
    )


def _decode_array(topic: str, description: object, data: Buffer) -> tuple[str, npt.NDArray[Any]]:
    if not isinstance(description, dict) or not isinstance(description.get("name"), str):
        raise ValueError(f"malformed message on {topic!r}: an 'arrays' entry is not a map with a 'name'")
    name = description["name"]
    shape = description.get("shape")
    if not isinstance(shape, list) or not all(type(size) is int and size >= 0 for size in shape):
        raise ValueError(f"malformed message on {topic!r}: array {name!r} has an invalid shape {shape!r}")
    dtype_name = description.get("dtype")
    try:
        dtype = np.dtype(dtype_name) if isinstance(dtype_name, str) else None
    except Exception:
        dtype = None
    if dtype is None or dtype.kind not in _ALLOWED_DTYPE_KINDS or dtype.byteorder == ">" or dtype.fields:
        raise ValueError(
            f"malformed message on {topic!r}: array {name!r} has an unsupported dtype {dtype_name!r} "
            "(expected a little-endian numeric dtype such as '<f4')"
        )
    expected_bytes = math.prod(shape) * dtype.itemsize
    if memoryview(data).nbytes != expected_bytes:
        raise ValueError(
            f"malformed message on {topic!r}: array {name!r} has {memoryview(data).nbytes} bytes, expected "
            f"{expected_bytes} for {dtype.str} {tuple(shape)}"
        )
    return name, np.frombuffer(data, dtype).reshape(shape)


def _check_pose_arrays(topic: str, arrays: dict[str, npt.NDArray[Any]]) -> None:
    missing = [name for name in _POSE_ARRAY_LAYOUT if name not in arrays]
    if missing:
        raise ValueError(f"malformed message on {topic!r}: pose arrays {missing} are missing")
    points_shape = arrays["points"].shape
    sizes = {
        "K": points_shape[0] if points_shape else -1,
        "J": points_shape[1] if len(points_shape) > 1 else -1,
        "R": arrays["rule_active"].size,
        "O": arrays["output_on"].size,
        "F": len(FRAME_INFO_FIELDS),
        "2": 2,
    }
    for name, (dtypes, layout) in _POSE_ARRAY_LAYOUT.items():
        array = arrays[name]
        expected = tuple(sizes[axis] for axis in layout)
        if array.dtype.str not in dtypes or array.shape != expected:
            raise ValueError(
                f"malformed message on {topic!r}: array {name!r} is {array.dtype.str} {array.shape}, "
                f"expected {' or '.join(dtypes)} {expected}"
            )
