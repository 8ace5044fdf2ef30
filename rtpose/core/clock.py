"""The process clock: one monotonic nanosecond clock for every host timestamp.

All host timestamps (grab, engine start and end, rules end, DAQ write) come from
``time.perf_counter_ns`` so that differences between stages are meaningful. It is monotonic
and unrelated to wall time; ``wall_time_at_start`` in a run folder maps it to wall time.
"""

from __future__ import annotations

import time

now_ns = time.perf_counter_ns


def ns_to_ms(duration_ns: int | float) -> float:
    return float(duration_ns) / 1e6
