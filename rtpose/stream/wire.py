"""The ZeroMQ wire format, version 1: names and layouts shared by the publisher and the client.

See docs/wire-format.md for the format itself; this module is its single definition in code.
"""

from __future__ import annotations

from rtpose.core.errors import RtposeError

SCHEMA_VERSION = 1

POSE_TOPIC_PREFIX = "pose."
EVENT_TOPIC_PREFIX = "event."
META_TOPIC_PREFIX = "meta."

POSE_ARRAYS = (
    "points",
    "point_scores",
    "instance_scores",
    "valid",
    "identities",
    "centroids",
    "rule_active",
    "output_on",
    "frame_info",
)
"""Payload frames of a pose message, in order (the header's ``arrays`` lists them too)."""

FRAME_INFO_FIELDS = (
    "frame_id",
    "dropped_before",
    "camera_timestamp_ns",
    "t_grab_ns",
    "t_engine_start_ns",
    "t_engine_end_ns",
    "t_rules_end_ns",
    "t_daq_write_ns",
    "t_publish_ns",
)
"""The ``frame_info`` payload (``<i8``, one per field, in this order): the header's integers again,
for readers without msgpack. ``camera_timestamp_ns`` is -1 when the camera has none; a host
timestamp is 0 when the frame did not reach that stage."""

HOST_TIMESTAMP_KEYS = FRAME_INFO_FIELDS[3:]


class StreamError(RtposeError):
    """The stream could not be set up (e.g. the address is in use)."""
