"""A small Python subscriber for rtpose streams.

    with PoseSubscriber("tcp://127.0.0.1:5555", topics=("pose.", "event.")) as subscriber:
        while True:
            message = subscriber.receive(timeout_ms=1000)
            if isinstance(message, PoseMessage):
                print(message.frame_id, message.points[message.valid])

Topics are prefixes (ZeroMQ subscription semantics): ``event.laser`` also matches ``event.laser2``;
check ``message.name`` when that matters. A SUB socket belongs to one thread.
"""

from __future__ import annotations

from collections.abc import Iterable

import zmq

from rtpose.stream.decode import EventMessage, Message, MetaMessage, PoseMessage, decode_message

__all__ = ["EventMessage", "Message", "MetaMessage", "PoseMessage", "PoseSubscriber", "decode_message"]


class PoseSubscriber:
    """Connects a SUB socket to ``address`` and decodes what arrives on ``topics``."""

    def __init__(
        self,
        address: str,
        topics: Iterable[str] = ("pose.",),
        *,
        receive_hwm: int = 1000,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, receive_hwm)
        for topic in topics:
            self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        self._socket.connect(address)

    def receive(self, timeout_ms: int | None = None) -> Message | None:
        """The next message, or None if none arrived within ``timeout_ms`` (None waits forever).

        Raises ValueError naming the problem if the message is malformed; the message is then
        consumed, so the next call continues with the one after it.
        """
        if not self._socket.poll(timeout_ms, zmq.POLLIN):
            return None
        return decode_message(self._socket.recv_multipart(zmq.NOBLOCK))

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> PoseSubscriber:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
