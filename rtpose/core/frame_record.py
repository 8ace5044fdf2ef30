"""The per-frame record: one fixed-size, little-endian NumPy structured row per processed frame.

The loop fills a preallocated row per frame (no per-frame allocation); the recorder appends rows
to ``frames.bin`` and the publisher slices arrays out of them. The layout depends only on the
model (K, J) and on the rig (rules, outputs), and is written next to the data (``frames.json``)
so that a reader needs nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_CAMERA_TIMESTAMP = -1

TIMESTAMP_FIELDS = ("grab_ns", "engine_start_ns", "engine_end_ns", "rules_end_ns", "daq_write_ns")


def frame_record_dtype(
    max_instances: int, num_nodes: int, num_rules: int, num_outputs: int, num_classes: int = 0
) -> np.dtype:
    """The structured dtype of one frame record (packed, little-endian).

    Fields: ``frame_id`` (camera frame id), ``dropped_before`` (frames skipped since the previous
    processed frame), ``camera_timestamp_ns`` (-1 when the camera has none), the host timestamps
    of ``TIMESTAMP_FIELDS``, the poses (``points`` K×J×2, ``point_scores`` K×J,
    ``instance_scores`` K, ``valid`` K, ``centroids`` K×2, ``identities`` K), and the state of
    each rule (``rule_active``) and output (``output_on``) after this frame. Models with classes
    (top-down ID models, ``num_classes`` > 0) add ``class_probs`` K×C at the end.
    """
    k, j = max_instances, num_nodes
    class_fields = [("class_probs", "<f4", (k, num_classes))] if num_classes > 0 else []
    return np.dtype(
        [
            ("frame_id", "<u8"),
            ("dropped_before", "<u4"),
            ("camera_timestamp_ns", "<i8"),
            *[(name, "<i8") for name in TIMESTAMP_FIELDS],
            ("points", "<f4", (k, j, 2)),
            ("point_scores", "<f4", (k, j)),
            ("instance_scores", "<f4", (k,)),
            ("valid", "?", (k,)),
            ("centroids", "<f4", (k, 2)),
            ("identities", "<i2", (k,)),
            ("rule_active", "u1", (num_rules,)),
            ("output_on", "u1", (num_outputs,)),
            *class_fields,
        ]
    )


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at a frame: a rule changed state, an output was written or cut.

    ``kind`` is one of ``rule``, ``output``, ``limit``, ``error``; ``name`` the rule or output.
    """

    kind: str
    name: str
    frame_id: int
    t_ns: int
    value: float
    detail: str = ""
