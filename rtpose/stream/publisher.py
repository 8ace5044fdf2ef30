"""Publishes poses, events and stream metadata on a ZeroMQ XPUB socket (wire format version 1).

Threading: a ZeroMQ socket belongs to one thread. Create, use and close a ``PosePublisher`` on
the publishing thread (the side-channel consumer), never on the hot loop.

Never blocks, and subscribers are isolated from each other (docs/decisions/0003-wire-format.md):
every send uses ``zmq.NOBLOCK`` without ``ZMQ_XPUB_NODROP``, so libzmq keeps a queue of at most
``send_hwm`` messages per subscriber and drops, for that subscriber only, what does not fit. A
stalled subscriber therefore loses its own messages and nobody else's. Those per-subscriber
drops are not countable here (libzmq does not report them); each subscriber sees them as gaps in
the headers' ``seq`` (the Python ``Subscriber`` counts them). ``dropped`` counts sends that
failed as a whole (``zmq.Again``), which with these options only happens in exceptional cases.
CONFLATE is not used: it breaks multipart messages.

The socket is an XPUB with ``ZMQ_XPUB_VERBOSE`` so that every subscription reaches the publisher:
a subscription whose prefix covers ``meta.<camera>`` (``""``, ``"meta."``, ``"meta.<camera>"``)
is a request for the ``meta`` message, answered at the next ``handle_frame``, ``handle_event``
or ``flush_if_due`` (the side channel calls that at least every 0.1 s when idle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np
import zmq

from rtpose.core.clock import now_ns
from rtpose.core.frame_record import TIMESTAMP_FIELDS, Event, frame_record_dtype
from rtpose.stream.wire import (
    EVENT_TOPIC_PREFIX,
    FRAME_INFO_FIELDS,
    META_TOPIC_PREFIX,
    POSE_ARRAYS,
    POSE_TOPIC_PREFIX,
    SCHEMA_VERSION,
    StreamError,
)

DEFAULT_SEND_HWM = 1000
"""Messages queued per subscriber before libzmq drops for that subscriber: several seconds of
poses at rig frame rates, so a subscriber that pauses (garbage collection, a plot redraw) loses
nothing, while memory stays bounded (1000 × a few kB per stalled subscriber)."""

SUBSCRIPTION_HWM = 1000
"""Subscription messages waiting to be read by the publisher (drained on every send)."""

_RECORD_FIELD_OF_ARRAY = {name: name for name in POSE_ARRAYS if name != "frame_info"}


class PosePublisher:
    """Binds a PUB socket at ``address`` and publishes one camera's poses and the rig's events.

    ``address`` may end in ``:*`` (e.g. ``tcp://127.0.0.1:*``) to bind a free port; ``endpoint``
    then tells which. ``meta_interval_s`` is how often the ``meta.<camera>`` message repeats (it
    is also sent on start and on request), checked on each ``handle_frame`` and ``flush_if_due``.
    ``send_hwm`` is the per-subscriber queue in messages (see the module docstring).

    Counters (read them from any thread): ``sent``, ``dropped`` (whole sends that failed),
    ``meta_sent``, ``meta_requests`` (subscriptions that asked for ``meta``), ``subscriptions``.
    """

    def __init__(
        self,
        address: str,
        camera_name: str,
        node_names: Sequence[str],
        animal_names: Sequence[str],
        rule_names: Sequence[str],
        output_names: Sequence[str],
        edges: Sequence[tuple[int, int]],
        max_instances: int,
        *,
        class_names: Sequence[str] = (),
        send_hwm: int = DEFAULT_SEND_HWM,
        meta_interval_s: float = 1.0,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        if not camera_name:
            raise ValueError("camera_name must not be empty (it names the topic pose.<camera_name>)")
        self.camera_name = camera_name
        self.dtype = frame_record_dtype(max_instances, len(node_names), len(rule_names), len(output_names))
        self.sent = 0
        self.dropped = 0
        self.meta_sent = 0
        self.meta_requests = 0
        self.subscriptions = 0
        self._seq = 0
        self._event_seq = 0
        self._meta_requested = False
        self._closed = False
        self._meta_interval_ns = round(meta_interval_s * 1e9)
        self._next_meta_ns = 0
        self._pose_topic = (POSE_TOPIC_PREFIX + camera_name).encode()
        self._meta_topic = (META_TOPIC_PREFIX + camera_name).encode()
        self._array_descriptions = [self._describe(name) for name in POSE_ARRAYS]
        self._pose_header: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "kind": "pose",
            "camera": camera_name,
            "seq": 0,
            **dict.fromkeys(FRAME_INFO_FIELDS, 0),
            "arrays": self._array_descriptions,
        }
        self._meta = {
            "v": SCHEMA_VERSION,
            "kind": "meta",
            "camera": camera_name,
            "node_names": list(node_names),
            "edges": [[int(a), int(b)] for a, b in edges],
            "animal_names": list(animal_names),
            "class_names": list(class_names),
            "rule_names": list(rule_names),
            "output_names": list(output_names),
            "max_instances": int(max_instances),
            "arrays": self._array_descriptions,
            "meta_interval_s": float(meta_interval_s),
        }
        self._frame_info = np.zeros(len(FRAME_INFO_FIELDS), "<i8")
        self._socket = (context or zmq.Context.instance()).socket(zmq.XPUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, send_hwm)
        self._socket.setsockopt(zmq.RCVHWM, SUBSCRIPTION_HWM)
        self._socket.setsockopt(zmq.XPUB_VERBOSE, 1)
        try:
            self._socket.bind(address)
        except zmq.ZMQError as error:
            self._socket.close()
            raise StreamError(
                f"cannot publish on {address!r}: {error} (is another rtpose using it? "
                "set stream.address to a free address)"
            ) from None
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.send_meta()

    def handle_frame(self, record: np.void | np.ndarray[Any, np.dtype[np.void]]) -> bool:
        """Publish one frame record (a row of ``frame_record_dtype``); False if it was dropped."""
        self._check_open()
        if record.dtype != self.dtype:
            raise ValueError(f"frame record dtype {record.dtype} does not match the publisher's {self.dtype}")
        publish_ns = now_ns()
        self._meta_if_due(publish_ns)
        header = self._pose_header
        header["seq"] = self._seq
        self._seq += 1
        header["frame_id"] = int(record["frame_id"])
        header["dropped_before"] = int(record["dropped_before"])
        header["camera_timestamp_ns"] = int(record["camera_timestamp_ns"])
        for field in TIMESTAMP_FIELDS:
            header["t_" + field] = int(record[field])
        header["t_publish_ns"] = publish_ns
        info = self._frame_info
        for index, key in enumerate(FRAME_INFO_FIELDS):
            info[index] = header[key]
        parts = [self._pose_topic, msgpack.packb(header)]
        parts.extend(np.ascontiguousarray(record[field]).tobytes() for field in _RECORD_FIELD_OF_ARRAY)
        parts.append(info.tobytes())
        return self._send(parts)

    def handle_event(self, event: Event) -> bool:
        """Publish an event on ``event.<name>``; False if it was dropped."""
        self._check_open()
        self._meta_if_due(now_ns())
        header = {
            "v": SCHEMA_VERSION,
            "seq": self._event_seq,
            "kind": event.kind,
            "name": event.name,
            "frame_id": int(event.frame_id),
            "t_ns": int(event.t_ns),
            "value": float(event.value),
            "detail": event.detail,
        }
        self._event_seq += 1
        return self._send([(EVENT_TOPIC_PREFIX + event.name).encode(), msgpack.packb(header)])

    def flush_if_due(self) -> None:
        """Answer meta requests and send the periodic meta when no frames arrive (side channel)."""
        self._check_open()
        self._meta_if_due(now_ns())

    def send_meta(self) -> bool:
        """Publish ``meta.<camera>`` now (``handle_frame`` also does it every ``meta_interval_s``)."""
        self._check_open()
        sent = self._send([self._meta_topic, msgpack.packb(self._meta)])
        if sent:
            self.meta_sent += 1
            self._next_meta_ns = now_ns() + self._meta_interval_ns
        return sent

    def _meta_if_due(self, t_ns: int) -> None:
        self._read_subscriptions()
        if self._meta_requested or t_ns >= self._next_meta_ns:
            self._meta_requested = False
            self.send_meta()

    def _read_subscriptions(self) -> None:
        """Drain subscription messages (byte 1 + prefix; 0 + prefix for unsubscribe is not sent)."""
        while int(self._socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            try:
                message = self._socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if message[:1] != b"\x01":
                continue
            self.subscriptions += 1
            if self._meta_topic.startswith(message[1:]):
                self.meta_requests += 1
                self._meta_requested = True

    def stats(self) -> dict[str, int]:
        """The counters, for the run summary."""
        return {
            "sent": self.sent,
            "dropped": self.dropped,
            "meta_sent": self.meta_sent,
            "meta_requests": self.meta_requests,
            "subscriptions": self.subscriptions,
        }

    def close(self) -> None:
        """Close the socket (pending messages are discarded: linger 0). Idempotent."""
        if not self._closed:
            self._closed = True
            self._socket.close()

    def __enter__(self) -> PosePublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, parts: list[bytes]) -> bool:
        try:
            self._socket.send_multipart(parts, flags=zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the pose publisher is closed")

    def _describe(self, name: str) -> dict[str, Any]:
        if name == "frame_info":
            return {"name": name, "dtype": "<i8", "shape": [len(FRAME_INFO_FIELDS)]}
        field_dtype = self.dtype.fields[name][0]  # type: ignore[index]
        base, shape = field_dtype.subdtype if field_dtype.subdtype else (field_dtype, ())
        return {"name": name, "dtype": base.str, "shape": list(shape)}
