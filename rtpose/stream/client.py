"""The Python subscriber for rtpose streams: decoded poses, events and meta, arrays as views.

    from rtpose.stream import PoseMessage, Subscriber

    with Subscriber("tcp://127.0.0.1:5555") as subscriber:
        for message in subscriber.messages(timeout_s=5):
            if isinstance(message, PoseMessage):
                print(message.frame_id, message.points[message.valid])

Arrays are read-only NumPy views of the received ZeroMQ frames (``np.frombuffer``, no copy); they
stay valid as long as the message object is referenced. Copy them to keep them writable.

Topics are prefixes (ZeroMQ subscription semantics): ``event.laser`` also matches ``event.laser2``;
check ``message.name`` when that matters. A SUB socket belongs to one thread: use a
``Subscriber`` from the thread that created it.

Connection and loss: ``connect`` never fails because nothing listens yet, and ZeroMQ reconnects
by itself (every ``reconnect_ivl_ms``) when rtpose stops and starts again: ``receive`` then just
returns None (timeout) until messages flow again. What was published while disconnected is gone;
messages lost while connected (this subscriber too slow, its queue of ``receive_hwm`` full)
show up as gaps in ``seq``, counted in ``poses_lost`` and ``events_lost``. A ``seq`` that goes
backwards means the publisher restarted: counted in ``publisher_restarts``, not as a loss.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import zmq

from rtpose.stream.decode import EventMessage, Message, MetaMessage, PoseMessage, decode_message
from rtpose.stream.wire import META_TOPIC_PREFIX

__all__ = [
    "EventMessage",
    "Message",
    "MetaMessage",
    "PoseMessage",
    "PoseSubscriber",
    "Subscriber",
    "decode_message",
]

ALL_TOPICS = ("pose.", "event.", "meta.")


class Subscriber:
    """Connects a SUB socket to ``address`` and decodes what arrives on ``topics`` (prefixes).

    Subscribing to ``meta.`` (as the default topics do) also asks the publisher to send its
    ``meta`` message at once, so names are known before the first pose in practice (not
    guaranteed: the subscription and the first poses race).
    """

    def __init__(
        self,
        address: str,
        topics: Iterable[str] = ALL_TOPICS,
        *,
        receive_hwm: int = 1000,
        reconnect_ivl_ms: int = 100,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self.address = address
        self.topics = tuple(topics)
        self.poses_lost = 0
        self.events_lost = 0
        self.publisher_restarts = 0
        self.malformed = 0
        self.meta: dict[str, MetaMessage] = {}
        """The latest meta message per camera."""
        self._last_pose_seq: dict[str, int] = {}
        self._last_event_seq: int | None = None
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, receive_hwm)
        self._socket.setsockopt(zmq.RECONNECT_IVL, reconnect_ivl_ms)
        for topic in self.topics:
            self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        self._socket.connect(address)

    def receive(self, timeout_ms: int | None = None) -> Message | None:
        """The next message, or None if none arrived within ``timeout_ms`` (None waits forever).

        Raises ValueError naming the problem if the message is malformed; the message is then
        consumed (and counted in ``malformed``), so the next call continues with the one after it.
        """
        if not self._socket.poll(timeout_ms, zmq.POLLIN):
            return None
        frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
        try:
            message = decode_message([frame.buffer for frame in frames])
        except ValueError:
            self.malformed += 1
            raise
        self._track(message)
        return message

    def messages(self, timeout_s: float | None = None, *, skip_malformed: bool = True) -> Iterator[Message]:
        """Yield messages until none arrives for ``timeout_s`` (None: forever).

        Malformed messages are skipped (counted in ``malformed``) unless ``skip_malformed`` is
        False, in which case the ValueError propagates.
        """
        timeout_ms = None if timeout_s is None else max(round(timeout_s * 1000), 0)
        while True:
            try:
                message = self.receive(timeout_ms)
            except ValueError:
                if skip_malformed:
                    continue
                raise
            if message is None:
                return
            yield message

    def __iter__(self) -> Iterator[Message]:
        return self.messages()

    def request_meta(self) -> None:
        """Ask the publisher to send ``meta`` now (re-subscribes to ``meta.``)."""
        topic = META_TOPIC_PREFIX.encode()
        if META_TOPIC_PREFIX in self.topics:
            self._socket.setsockopt(zmq.UNSUBSCRIBE, topic)
        self._socket.setsockopt(zmq.SUBSCRIBE, topic)
        if META_TOPIC_PREFIX not in self.topics:
            self.topics = (*self.topics, META_TOPIC_PREFIX)

    def _track(self, message: Message) -> None:
        if isinstance(message, PoseMessage):
            previous = self._last_pose_seq.get(message.camera)
            self._last_pose_seq[message.camera] = message.seq
            self.poses_lost += self._gap(previous, message.seq)
        elif isinstance(message, EventMessage) and message.seq is not None:
            previous_event = self._last_event_seq
            self._last_event_seq = message.seq
            self.events_lost += self._gap(previous_event, message.seq)
        elif isinstance(message, MetaMessage):
            self.meta[message.camera] = message

    def _gap(self, previous: int | None, seq: int) -> int:
        if previous is None:
            return 0
        if seq <= previous:
            self.publisher_restarts += 1
            return 0
        return seq - previous - 1

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


PoseSubscriber = Subscriber
"""The earlier name, kept for existing scripts."""
