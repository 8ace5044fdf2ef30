from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest
import zmq

from rtpose.core.frame_record import TIMESTAMP_FIELDS, Event
from rtpose.stream import (
    EventMessage,
    MetaMessage,
    PoseMessage,
    PosePublisher,
    PoseSubscriber,
    StreamError,
)

NODES = ["head", "thorax", "abdomen"]
EDGES = [(0, 1), (1, 2)]
ANY_PORT = "tcp://127.0.0.1:*"

# A subscriber that knows nothing of rtpose: zmq, msgpack and numpy only (docs/wire-format.md).
FOREIGN_SUBSCRIBER = r"""
import json, sys
import msgpack, numpy as np, zmq

sub = zmq.Context().socket(zmq.SUB)
sub.connect(sys.argv[1])
sub.setsockopt(zmq.SUBSCRIBE, b"pose.")
sub.setsockopt(zmq.SUBSCRIBE, b"meta.")
poses, meta = [], None
while len(poses) < int(sys.argv[2]) or meta is None:
    topic, header, *payload = sub.recv_multipart()
    h = msgpack.unpackb(header)
    if topic.startswith(b"meta."):
        meta = h
        continue
    arrays = {}
    for a, buf in zip(h["arrays"], payload):
        arrays[a["name"]] = np.frombuffer(buf, a["dtype"]).reshape(a["shape"]).tolist()
    poses.append({"topic": topic.decode(), "header": h, "arrays": arrays})
assert "rtpose" not in sys.modules
print(json.dumps({"poses": poses, "meta": meta}))
"""


def make_publisher(*, num_nodes: int = 3, send_hwm: int = 100, meta_interval_s: float = 1.0) -> PosePublisher:
    return PosePublisher(
        ANY_PORT,
        "cam0",
        node_names=NODES if num_nodes == 3 else [f"n{index}" for index in range(num_nodes)],
        animal_names=["female", "male"],
        rule_names=["courtship"],
        output_names=["laser", "led"],
        edges=EDGES if num_nodes == 3 else [],
        max_instances=2,
        send_hwm=send_hwm,
        meta_interval_s=meta_interval_s,
    )


@pytest.fixture
def publisher() -> Iterator[PosePublisher]:
    with make_publisher(meta_interval_s=0.05) as publisher:
        yield publisher


def record_for(publisher: PosePublisher, frame_id: int) -> np.ndarray:
    """A frame record whose every field is a known function of ``frame_id``."""
    record = np.zeros((), publisher.dtype)
    record["frame_id"] = frame_id
    record["dropped_before"] = frame_id % 3
    record["camera_timestamp_ns"] = -1 if frame_id % 2 else frame_id * 1000
    for offset, field in enumerate(TIMESTAMP_FIELDS):
        record[field] = frame_id * 1_000_000 + offset
    k, j = record["points"].shape[:2]
    record["points"] = (np.arange(k * j * 2, dtype=np.float32).reshape(k, j, 2) + frame_id) / 4
    record["points"][1, 0] = np.nan
    record["point_scores"] = np.linspace(0, 1, k * j, dtype=np.float32).reshape(k, j)
    record["instance_scores"] = [0.9, 0.25]
    record["valid"] = [True, frame_id % 2 == 0]
    record["identities"] = [1, -1]
    record["centroids"] = [[frame_id, 2.5], [-3.0, 4.0]]
    record["rule_active"] = [frame_id % 2]
    record["output_on"] = [1, 0]
    return record


def test_foreign_subscriber_decodes_poses_and_meta(publisher: PosePublisher) -> None:
    wanted = 5
    process = subprocess.Popen(
        [sys.executable, "-c", FOREIGN_SUBSCRIBER, publisher.endpoint, str(wanted)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    published: dict[int, np.ndarray] = {}
    try:
        deadline = time.monotonic() + 30
        frame_id = 0
        while process.poll() is None and time.monotonic() < deadline:
            frame_id += 1
            published[frame_id] = record_for(publisher, frame_id)
            publisher.handle_frame(published[frame_id])
            time.sleep(0.002)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    result = json.loads(stdout)

    meta = result["meta"]
    assert meta["v"] == 1
    assert meta["node_names"] == NODES
    assert meta["edges"] == [[0, 1], [1, 2]]
    assert meta["animal_names"] == ["female", "male"]
    assert meta["rule_names"] == ["courtship"]
    assert meta["output_names"] == ["laser", "led"]
    assert meta["max_instances"] == 2

    assert len(result["poses"]) >= wanted
    for pose in result["poses"]:
        header, arrays = pose["header"], pose["arrays"]
        assert pose["topic"] == "pose.cam0"
        assert header["v"] == 1
        record = published[header["frame_id"]]
        assert header["dropped_before"] == record["dropped_before"]
        assert header["camera_timestamp_ns"] == record["camera_timestamp_ns"]
        for field in TIMESTAMP_FIELDS:
            assert header["t_" + field] == record[field]
        for name in ("points", "point_scores", "instance_scores", "valid", "identities", "centroids"):
            np.testing.assert_array_equal(np.array(arrays[name], dtype=record[name].dtype), record[name])
        assert arrays["rule_active"] == record["rule_active"].tolist()
        assert arrays["output_on"] == record["output_on"].tolist()
        assert arrays["frame_info"][:3] == [
            header["frame_id"],
            header["dropped_before"],
            header["camera_timestamp_ns"],
        ]
        assert [a["name"] for a in header["arrays"]][:6] == [
            "points",
            "point_scores",
            "instance_scores",
            "valid",
            "identities",
            "centroids",
        ]
        assert header["arrays"][0] == {"name": "points", "dtype": "<f4", "shape": [2, 3, 2]}
    sequence = [pose["header"]["seq"] for pose in result["poses"]]
    assert sequence == sorted(sequence)


def receive_one(subscriber: PoseSubscriber, publish: object, kind: type) -> object:
    """Publish until a message of ``kind`` arrives (the first ones are lost while SUB joins)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        publish()  # type: ignore[operator]
        message = subscriber.receive(timeout_ms=5)
        while message is not None:
            if isinstance(message, kind):
                return message
            message = subscriber.receive(timeout_ms=0)
    raise AssertionError(f"no {kind.__name__} arrived")


def test_python_client_decodes_every_kind(publisher: PosePublisher) -> None:
    with PoseSubscriber(publisher.endpoint, topics=("pose.", "event.", "meta.")) as subscriber:
        record = record_for(publisher, 42)
        pose = receive_one(subscriber, lambda: publisher.handle_frame(record), PoseMessage)
        assert isinstance(pose, PoseMessage)
        assert (pose.camera, pose.frame_id, pose.dropped_before, pose.camera_timestamp_ns) == (
            "cam0",
            42,
            0,
            42000,
        )
        assert pose.t_rules_end_ns == record["rules_end_ns"]
        assert pose.t_publish_ns > 0
        np.testing.assert_array_equal(pose.points, record["points"])
        assert pose.valid.dtype == np.bool_
        assert pose.valid.tolist() == [True, True]
        assert pose.identities.tolist() == [1, -1]
        assert pose.output_on.tolist() == [1, 0]

        event = Event("limit", "laser", 42, 123, 0.0, "max_on_ms: on for 10 ms")
        received = receive_one(subscriber, lambda: publisher.handle_event(event), EventMessage)
        assert isinstance(received, EventMessage)
        assert (received.kind, received.name, received.frame_id, received.t_ns, received.value) == (
            "limit",
            "laser",
            42,
            123,
            0.0,
        )
        assert received.detail == event.detail

        meta = receive_one(subscriber, lambda: publisher.handle_frame(record), MetaMessage)
        assert isinstance(meta, MetaMessage)
        assert meta.node_names == NODES
        assert meta.edges == EDGES
        assert meta.max_instances == 2


def test_meta_repeats_at_its_interval() -> None:
    with make_publisher(meta_interval_s=0.05) as publisher:
        record = record_for(publisher, 1)
        sent_at_start = publisher.sent
        assert sent_at_start == 1  # the meta message sent on start
        for _ in range(10):
            publisher.handle_frame(record)
        assert publisher.sent == sent_at_start + 10  # no meta yet
        time.sleep(0.06)
        publisher.handle_frame(record)
        assert publisher.sent == sent_at_start + 12


def test_no_subscriber_never_blocks_and_drops_nothing() -> None:
    with make_publisher() as publisher:
        record = record_for(publisher, 1)
        start = time.perf_counter()
        for _ in range(5000):
            assert publisher.handle_frame(record)
        assert time.perf_counter() - start < 5
        assert publisher.dropped == 0


def test_stalled_subscriber_never_blocks_the_publisher() -> None:
    publisher = make_publisher(num_nodes=64, send_hwm=4)
    stalled = zmq.Context.instance().socket(zmq.SUB)
    stalled.setsockopt(zmq.LINGER, 0)
    stalled.setsockopt(zmq.RCVHWM, 4)
    stalled.setsockopt(zmq.SUBSCRIBE, b"pose.")
    stalled.connect(publisher.endpoint)
    try:
        record = record_for(publisher, 1)
        deadline = time.monotonic() + 10
        while not stalled.poll(5) and time.monotonic() < deadline:
            publisher.handle_frame(record)  # until the subscription is in place
        attempts_before = publisher.sent + publisher.dropped
        slowest = 0.0
        for _ in range(5_000):  # the subscriber never reads from here on
            start = time.perf_counter()
            publisher.handle_frame(record)
            slowest = max(slowest, time.perf_counter() - start)
        # libzmq drops for the stalled subscriber alone; whole sends never fail
        assert publisher.sent + publisher.dropped == attempts_before + 5_000
        assert slowest < 0.1
    finally:
        # The publisher first. Closing a stalled subscriber and then, at once, the publisher
        # (linger 0) can abort libzmq 4.3.5 ("Resource temporarily unavailable
        # (src/session_base.cpp:233)", zeromq/libzmq#3442): the publisher's session sees its
        # peer go while its pipe is being torn down in the middle of a multipart message.
        publisher.close()
        stalled.close()


def test_meta_is_sent_when_a_subscriber_asks_for_it() -> None:
    with make_publisher(meta_interval_s=3600) as publisher:  # no periodic meta during the test
        with PoseSubscriber(publisher.endpoint, topics=("meta.",)) as subscriber:
            deadline = time.monotonic() + 10
            while publisher.meta_requests == 0 and time.monotonic() < deadline:
                publisher.flush_if_due()
                time.sleep(0.01)
            message = subscriber.receive(timeout_ms=5000)
            assert isinstance(message, MetaMessage)
            assert message.class_names == []
            subscriber.request_meta()  # again, on demand
            deadline = time.monotonic() + 10
            while publisher.meta_requests < 2 and time.monotonic() < deadline:
                publisher.handle_event(Event("rule", "r", 0, 0, 1.0))
                time.sleep(0.01)
            assert isinstance(subscriber.receive(timeout_ms=5000), MetaMessage)
        assert publisher.meta_sent == 3  # on start, and twice on request
        assert publisher.stats()["meta_requests"] == 2


def test_bind_failure_names_the_address() -> None:
    with make_publisher() as first, pytest.raises(StreamError, match=r"stream\.address"):
        PosePublisher(first.endpoint, "cam0", NODES, [], [], [], [], 2)


def test_record_dtype_is_checked(publisher: PosePublisher) -> None:
    with pytest.raises(ValueError, match="does not match"):
        publisher.handle_frame(np.zeros((), [("frame_id", "<u8")]))


def test_closed_publisher_refuses(publisher: PosePublisher) -> None:
    publisher.close()
    publisher.close()
    with pytest.raises(RuntimeError, match="closed"):
        publisher.handle_event(Event("rule", "r", 0, 0, 1.0))
