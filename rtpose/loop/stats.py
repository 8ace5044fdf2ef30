"""Per-frame timing and rule activity, kept for the live status and the run summary."""

from __future__ import annotations

import numpy as np

from rtpose.core.frame_record import TIMESTAMP_FIELDS, Event

STAGES = {
    # name: (from timestamp, to timestamp)
    "wait": ("grab_ns", "engine_start_ns"),
    "engine": ("engine_start_ns", "engine_end_ns"),
    "identity_rules": ("engine_end_ns", "rules_end_ns"),
    "daq": ("rules_end_ns", "daq_write_ns"),
    "end_to_end": ("grab_ns", "daq_write_ns"),
}


class TimestampLog:
    """All processed frames' host timestamps (N×5 int64), grown by doubling (rarely allocates)."""

    def __init__(self, initial_capacity: int = 4096) -> None:
        self._data = np.zeros((initial_capacity, len(TIMESTAMP_FIELDS)), np.int64)
        self.count = 0

    def append(self, grab: int, engine_start: int, engine_end: int, rules_end: int, daq_write: int) -> None:
        if self.count == len(self._data):
            grown = np.zeros((2 * len(self._data), len(TIMESTAMP_FIELDS)), np.int64)
            grown[: self.count] = self._data
            self._data = grown
        row = self._data[self.count]
        row[0], row[1], row[2], row[3], row[4] = grab, engine_start, engine_end, rules_end, daq_write
        self.count += 1

    def view(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self._data[start : self.count if stop is None else stop]

    def stage_ms(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        rows = self.view(start, stop)
        index = {name: i for i, name in enumerate(TIMESTAMP_FIELDS)}
        return {
            stage: (rows[:, index[end]] - rows[:, index[begin]]) / 1e6
            for stage, (begin, end) in STAGES.items()
        }

    def latency_summary(self) -> dict[str, dict[str, float]]:
        summary = {}
        for stage, values in self.stage_ms().items():
            if values.size == 0:
                summary[stage] = {
                    "p50": float("nan"),
                    "p99": float("nan"),
                    "mean": float("nan"),
                    "max": float("nan"),
                }
                continue
            summary[stage] = {
                "p50": round(float(np.percentile(values, 50)), 4),
                "p99": round(float(np.percentile(values, 99)), 4),
                "mean": round(float(values.mean()), 4),
                "max": round(float(values.max()), 4),
            }
        return summary


class ActivityTracker:
    """Counts activations (rising edges) and on-time of named things from their events."""

    def __init__(self, names: list[str]) -> None:
        self._on_since_ns: dict[str, int | None] = dict.fromkeys(names)
        self.activations = dict.fromkeys(names, 0)
        self.active_ns = dict.fromkeys(names, 0)

    def observe(self, event: Event) -> None:
        if event.name not in self._on_since_ns:
            return
        since = self._on_since_ns[event.name]
        if event.value and since is None:
            self._on_since_ns[event.name] = event.t_ns
            self.activations[event.name] += 1
        elif not event.value and since is not None:
            self.active_ns[event.name] += event.t_ns - since
            self._on_since_ns[event.name] = None

    def finish(self, t_ns: int) -> None:
        for name, since in self._on_since_ns.items():
            if since is not None:
                self.active_ns[name] += t_ns - since
                self._on_since_ns[name] = None

    def is_active(self, name: str) -> bool:
        return self._on_since_ns.get(name) is not None

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {"activations": self.activations[name], "active_ms": round(self.active_ns[name] / 1e6, 3)}
            for name in self.activations
        }
