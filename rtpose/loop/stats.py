"""Per-frame timing and rule activity, kept for the live status and the run summary.

Memory and per-frame cost are bounded however long a rig runs: whole-run latency statistics
are log-spaced histograms (about 1 % resolution; exact mean and max), and the live status reads
a fixed window of recent frames. The exact per-frame timestamps are in the recording.
"""

from __future__ import annotations

import math

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
_FIELD_INDEX = {name: index for index, name in enumerate(TIMESTAMP_FIELDS)}
_STAGE_COLUMNS = [(_FIELD_INDEX[begin], _FIELD_INDEX[end]) for begin, end in STAGES.values()]

BINS_PER_DECADE = 200
"""Histogram resolution: bin edges 10**(1/200) ≈ 1.16 % apart."""
_DECADES = 11  # 1 ns .. 100 s
_BINS = BINS_PER_DECADE * _DECADES


class TimestampLog:
    """Stage durations of every processed frame: histograms for the run, a window for status."""

    def __init__(self, window: int = 8192) -> None:
        self._window = np.zeros((window, len(TIMESTAMP_FIELDS)), np.int64)
        self._histograms = np.zeros((len(STAGES), _BINS), np.int64)
        self._sums_ns = [0] * len(STAGES)
        self._max_ns = [0] * len(STAGES)
        self.count = 0

    def append(self, grab: int, engine_start: int, engine_end: int, rules_end: int, daq_write: int) -> None:
        row = self._window[self.count % len(self._window)]
        row[0], row[1], row[2], row[3], row[4] = grab, engine_start, engine_end, rules_end, daq_write
        stamps = (grab, engine_start, engine_end, rules_end, daq_write)
        for stage, (begin, end) in enumerate(_STAGE_COLUMNS):
            duration = stamps[end] - stamps[begin]
            self._sums_ns[stage] += duration
            if duration > self._max_ns[stage]:
                self._max_ns[stage] = duration
            bin_index = int(math.log10(duration) * BINS_PER_DECADE) if duration > 1 else 0
            self._histograms[stage, min(bin_index, _BINS - 1)] += 1
        self.count += 1

    def recent_stage_ms(self, since_count: int) -> dict[str, np.ndarray]:
        """Stage durations (ms) of the frames processed since ``since_count`` (at most the window)."""
        stop = self.count
        start = max(since_count, stop - len(self._window))
        rows = self._window[np.arange(start, stop) % len(self._window)]
        return {
            stage: (rows[:, end] - rows[:, begin]) / 1e6
            for stage, (begin, end) in zip(STAGES, _STAGE_COLUMNS, strict=True)
        }

    def latency_summary(self) -> dict[str, dict[str, float]]:
        """Per stage: p50 and p99 (histogram bin upper edges, ~1 % resolution), exact mean and max (ms)."""
        summary: dict[str, dict[str, float]] = {}
        upper_edges_ms = 10.0 ** ((np.arange(_BINS) + 1) / BINS_PER_DECADE) / 1e6
        for stage, name in enumerate(STAGES):
            if self.count == 0:
                summary[name] = dict.fromkeys(("p50", "p99", "mean", "max"), float("nan"))
                continue
            cumulative = np.cumsum(self._histograms[stage])

            def percentile(q: float, cumulative: np.ndarray = cumulative) -> float:
                index = int(np.searchsorted(cumulative, q / 100.0 * self.count))
                return round(float(upper_edges_ms[min(index, _BINS - 1)]), 4)

            summary[name] = {
                "p50": percentile(50),
                "p99": percentile(99),
                "mean": round(self._sums_ns[stage] / self.count / 1e6, 4),
                "max": round(self._max_ns[stage] / 1e6, 4),
            }
        return summary


class ActivityTracker:
    """Counts activations (rising edges) and on-time of named things of one event kind."""

    def __init__(self, kind: str, names: list[str]) -> None:
        self.kind = kind
        self._on_since_ns: dict[str, int | None] = dict.fromkeys(names)
        self.activations = dict.fromkeys(names, 0)
        self.active_ns = dict.fromkeys(names, 0)

    def observe(self, event: Event) -> None:
        if event.kind != self.kind or event.name not in self._on_since_ns:
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
                self.active_ns[name] += max(t_ns - since, 0)
                self._on_since_ns[name] = None

    def is_active(self, name: str) -> bool:
        return self._on_since_ns.get(name) is not None

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {"activations": self.activations[name], "active_ms": round(self.active_ns[name] / 1e6, 3)}
            for name in self.activations
        }
