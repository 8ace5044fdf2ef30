"""ZeroMQ streaming (wire format version 1): the publisher and a Python subscriber client.

See docs/wire-format.md. Importing this package imports pyzmq and msgpack (core dependencies).
"""

from __future__ import annotations

from rtpose.stream.client import PoseSubscriber, Subscriber
from rtpose.stream.decode import EventMessage, Message, MetaMessage, PoseMessage, decode_message
from rtpose.stream.publisher import PosePublisher
from rtpose.stream.wire import SCHEMA_VERSION, StreamError

__all__ = [
    "SCHEMA_VERSION",
    "EventMessage",
    "Message",
    "MetaMessage",
    "PoseMessage",
    "PosePublisher",
    "PoseSubscriber",
    "StreamError",
    "Subscriber",
    "decode_message",
]
