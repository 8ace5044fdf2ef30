"""The Python client rejects malformed messages with a clear ValueError and keeps going."""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

import msgpack
import numpy as np
import pytest
import zmq

from rtpose.stream import PoseMessage, PoseSubscriber, decode_message
from rtpose.stream.wire import FRAME_INFO_FIELDS

K, J = 2, 3


def pose_parts(**overrides: Any) -> list[bytes]:
    """A valid pose message (K=2, J=3, one rule, one output), with header fields overridden."""
    arrays = [
        ("points", "<f4", [K, J, 2]),
        ("point_scores", "<f4", [K, J]),
        ("instance_scores", "<f4", [K]),
        ("valid", "|b1", [K]),
        ("identities", "<i2", [K]),
        ("centroids", "<f4", [K, 2]),
        ("rule_active", "|u1", [1]),
        ("output_on", "|u1", [1]),
        ("frame_info", "<i8", [len(FRAME_INFO_FIELDS)]),
    ]
    header: dict[str, Any] = {"v": 1, "kind": "pose", "camera": "cam0", "seq": 0}
    header.update(dict.fromkeys(FRAME_INFO_FIELDS, 7))
    header["arrays"] = [{"name": name, "dtype": dtype, "shape": shape} for name, dtype, shape in arrays]
    header.update(overrides)
    payload = [np.zeros(shape, dtype).tobytes() for _, dtype, shape in arrays]
    return [b"pose.cam0", msgpack.packb(header), *payload]


def test_valid_message_decodes() -> None:
    message = decode_message(pose_parts())
    assert isinstance(message, PoseMessage)
    assert message.points.shape == (K, J, 2)
    assert message.frame_id == 7


def with_header(parts: list[bytes], **changes: Any) -> list[bytes]:
    header = msgpack.unpackb(parts[1])
    header.update(changes)
    return [parts[0], msgpack.packb(header), *parts[2:]]


BAD_ARRAYS = msgpack.unpackb(pose_parts()[1])["arrays"]


@pytest.mark.parametrize(
    ("parts", "problem"),
    [
        ([b"pose.cam0"], "expected at least 2 frames"),
        ([b"\xff\xfe", b"x"], "topic frame is not UTF-8"),
        ([b"pose.cam0", b"\xc1"], "header is not valid msgpack"),
        ([b"pose.cam0", msgpack.packb([1, 2])], "not a msgpack map"),
        ([b"pose.cam0", msgpack.packb({1: 2})], "not a msgpack map"),
        ([b"pose.cam0", msgpack.packb({"v": 2})], "schema version v=2"),
        ([b"pose.cam0", msgpack.packb({"x": 1})], "schema version v=None"),
        ([b"weird.topic", msgpack.packb({"v": 1})], "unknown topic 'weird.topic'"),
        (pose_parts()[:-1], "describes 9 arrays but 8 payload frames"),
        (pose_parts(camera="cam1"), "different camera 'cam1'"),
        (pose_parts(frame_id="7"), "'frame_id' must be int, got str"),
        (pose_parts(seq=True), "'seq' must be int, got bool"),
        (with_header(pose_parts(), arrays="nope"), "'arrays' must be list"),
        (
            pose_parts(arrays=[*BAD_ARRAYS[:8], {"name": "frame_info", "dtype": "O", "shape": [9]}]),
            "unsupported dtype",
        ),
        (
            pose_parts(arrays=[*BAD_ARRAYS[:8], {"name": "frame_info", "dtype": ">i8", "shape": [9]}]),
            "unsupported dtype",
        ),
        (
            pose_parts(arrays=[*BAD_ARRAYS[:8], {"name": "frame_info", "dtype": "<i8", "shape": [8]}]),
            "has 72 bytes",
        ),
        (
            pose_parts(arrays=[*BAD_ARRAYS[:8], {"name": "frame_info", "dtype": "<i8", "shape": -1}]),
            "invalid shape",
        ),
        (pose_parts(arrays=[*BAD_ARRAYS[:8], ["frame_info"]]), "not a map with a 'name'"),
        (
            pose_parts(arrays=[*BAD_ARRAYS[:8], {"name": "other", "dtype": "<i8", "shape": [9]}]),
            "'frame_info'] are missing",
        ),
        (
            pose_parts(
                arrays=[
                    *BAD_ARRAYS[:4],
                    {"name": "identities", "dtype": "<i4", "shape": [1]},
                    *BAD_ARRAYS[5:],
                ]
            ),
            "is <i4 (1,), expected <i2 (2,)",
        ),
        ([b"event.r", msgpack.packb({"v": 1, "kind": "rule", "name": "q"})], "different event 'q'"),
        ([b"event.r", msgpack.packb({"v": 1, "kind": "rule", "name": "r"})], "'frame_id' is missing"),
        ([b"event.r", msgpack.packb({"v": 1}), b""], "expected 2 frames, got 3"),
        ([b"meta.cam0", msgpack.packb({"v": 1, "camera": "cam0", "edges": [[0]]})], "list of [int, int]"),
    ],
)
def test_malformed_messages_are_rejected_clearly(parts: list[bytes], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        decode_message(parts)


def test_shape_inconsistent_with_points_is_rejected() -> None:
    arrays = [dict(entry) for entry in BAD_ARRAYS]
    arrays[5]["shape"] = [3, 2]  # centroids for 3 instances, points for 2
    parts = pose_parts(arrays=arrays)
    parts[7] = np.zeros((3, 2), "<f4").tobytes()
    with pytest.raises(ValueError, match=r"array 'centroids' is <f4 \(3, 2\), expected <f4 \(2, 2\)"):
        decode_message(parts)


def test_random_garbage_only_ever_raises_value_error() -> None:
    rng = np.random.default_rng(0)
    valid = pose_parts()
    for _ in range(300):
        parts = [bytearray(part) for part in valid]
        index = int(rng.integers(len(parts)))
        if parts[index]:
            position = int(rng.integers(len(parts[index])))
            parts[index][position] = int(rng.integers(256))
        with contextlib.suppress(ValueError):
            decode_message([bytes(part) for part in parts])


def test_subscriber_reports_garbage_and_continues() -> None:
    publisher = zmq.Context.instance().socket(zmq.PUB)
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.bind("tcp://127.0.0.1:*")
    endpoint = publisher.getsockopt_string(zmq.LAST_ENDPOINT)
    try:
        with PoseSubscriber(endpoint) as subscriber:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # wait until the subscription is in place
                publisher.send_multipart(pose_parts())
                if subscriber.receive(timeout_ms=5) is not None:
                    break
            while subscriber.receive(timeout_ms=50) is not None:
                pass
            publisher.send_multipart([b"pose.cam0", b"garbage"])
            publisher.send_multipart(pose_parts(frame_id=99))
            with pytest.raises(ValueError, match="header is not valid msgpack"):
                subscriber.receive(timeout_ms=2000)
            message = subscriber.receive(timeout_ms=2000)
            assert isinstance(message, PoseMessage)
            assert message.frame_id == 99
            assert subscriber.receive(timeout_ms=0) is None
    finally:
        publisher.close()
