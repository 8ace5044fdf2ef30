"""Evidence for docs/decisions/0003: one stalled subscriber (a stuck MATLAB client) next to a live
one (Bonsai). With ZMQ_XPUB_NODROP the stalled one makes the publisher drop for everybody; with
plain XPUB semantics (what rtpose uses) the live one receives everything."""

from __future__ import annotations

import threading
import time

import numpy as np
import zmq
from test_stream_publisher import make_publisher, record_for

from rtpose.stream import PoseMessage, Subscriber

MESSAGES = 2000
PAYLOAD = np.zeros(65_536, np.uint8).tobytes()  # big enough to fill the stalled queues quickly


def _subscriber(endpoint: str, hwm: int) -> zmq.Socket[bytes]:
    socket = zmq.Context.instance().socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, hwm)
    socket.setsockopt(zmq.RCVBUF, 65_536)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.connect(endpoint)
    return socket


def _stall_experiment(nodrop: bool) -> tuple[int, int]:
    """(messages the live subscriber received, sends that failed) out of MESSAGES."""
    publisher = zmq.Context.instance().socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.setsockopt(zmq.SNDHWM, 200)
    publisher.setsockopt(zmq.SNDBUF, 65_536)
    publisher.setsockopt(zmq.XPUB_VERBOSE, 1)
    publisher.setsockopt(zmq.XPUB_NODROP, int(nodrop))
    publisher.bind("tcp://127.0.0.1:*")
    endpoint = publisher.getsockopt_string(zmq.LAST_ENDPOINT)
    stalled, live = _subscriber(endpoint, 8), _subscriber(endpoint, 1000)
    received: list[int] = []
    done = threading.Event()

    def read_live() -> None:
        while not done.is_set():
            if live.poll(20):
                received.append(int(live.recv_multipart()[1]))

    try:
        for _ in range(2):  # both subscriptions are in place once both have been read back
            assert publisher.poll(5000)
            publisher.recv()
        time.sleep(0.05)
        reader = threading.Thread(target=read_live, daemon=True)
        reader.start()
        failed = 0
        for index in range(MESSAGES):
            try:
                publisher.send_multipart([b"pose.cam0", str(index).encode(), PAYLOAD], zmq.NOBLOCK)
            except zmq.Again:
                failed += 1
            time.sleep(0.0002)  # the live reader keeps up
        deadline = time.monotonic() + 5
        while len(received) < MESSAGES - failed and time.monotonic() < deadline:
            time.sleep(0.01)
        done.set()
        reader.join()
        return len(received), failed
    finally:
        for socket in (publisher, stalled, live):  # publisher first: see test_stream_publisher
            socket.close()


def test_nodrop_lets_a_stalled_subscriber_starve_the_live_one() -> None:
    received, failed = _stall_experiment(nodrop=True)
    assert failed > MESSAGES // 2
    assert received < MESSAGES // 2  # about SNDHWM + what the socket buffers hold


def test_plain_pub_semantics_isolate_the_live_subscriber() -> None:
    received, failed = _stall_experiment(nodrop=False)
    assert failed == 0
    assert received == MESSAGES


def _drain(socket: zmq.Socket[bytes]) -> int:
    count = 0
    while socket.poll(200):
        socket.recv_multipart()
        count += 1
    return count


def test_rtpose_publisher_keeps_the_live_subscriber_whole() -> None:
    messages = 3000  # × 24 kB: more than the stalled subscriber's queues and socket buffers hold
    publisher = make_publisher(num_nodes=1024)  # the default send_hwm
    stalled = _subscriber(publisher.endpoint, 8)
    record = record_for(publisher, 1)
    try:
        with Subscriber(publisher.endpoint, topics=("pose.",)) as live:
            deadline = time.monotonic() + 10
            while publisher.subscriptions < 2 and time.monotonic() < deadline:
                publisher.flush_if_due()
                time.sleep(0.01)
            time.sleep(0.05)
            poses: list[PoseMessage] = []
            for _ in range(messages):
                publisher.handle_frame(record)
                time.sleep(0.0002)  # ~4 kHz: faster than any rig, slow enough to read in turn
                message = live.receive(timeout_ms=0)
                while message is not None:
                    assert isinstance(message, PoseMessage)
                    poses.append(message)
                    message = live.receive(timeout_ms=0)
            poses.extend(m for m in live.messages(timeout_s=1.0) if isinstance(m, PoseMessage))
            assert len(poses) == messages
            assert live.poses_lost == 0
            assert [p.seq for p in poses] == list(range(poses[0].seq, poses[0].seq + messages))
            assert publisher.dropped == 0
        publisher.close()
        assert _drain(stalled) < messages  # the stalled subscriber did lose messages
    finally:
        publisher.close()  # before the subscriber: see test_stream_publisher
        stalled.close()
