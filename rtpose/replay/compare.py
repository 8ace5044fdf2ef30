"""Where a replay's decisions differ from the live run's, frame by frame (matched by frame id)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rtpose.convert.run_data import RunData
from rtpose.record import RunFolderError, read_events

FIRST_FEW = 10


@dataclass
class Difference:
    """One rule or output whose state after a frame differs between the live run and the replay."""

    kind: str
    """"rule" or "output"."""
    name: str
    frames: int
    """How many frames differ."""
    first_frame_ids: list[int]
    """The first few frame ids that differ."""


@dataclass
class ReplayComparison:
    frames_live: int
    frames_replayed: int
    frames_compared: int
    missing_from_replay: int
    """Frames the live run processed that the replay did not (not in the video)."""
    first_missing_frame_ids: list[int]
    extra_in_replay: int
    """Frames the replay processed that the live run did not (should be 0)."""
    differences: list[Difference] = field(default_factory=list)
    identity_differences: int = 0
    """Frames where any slot's identity differs."""
    max_point_difference_px: float = 0.0
    """Largest |live - replay| over points both found (0 for the same model and backend)."""
    found_differently: int = 0
    """Points found in one run but not the other."""
    limit_cuts_live: int = 0
    """Outputs cut by safety limits in the live run: limits run on wall-clock time, so their
    decisions are not expected to repeat in a replay that runs faster than real time."""
    watchdog_stalls_live: int = 0
    """Times the live loop stalled past ``loop.stall_timeout_ms``: the watchdog forced every output
    off (a switched output then stays off until its rule turns off and on again; frame toggles
    restart), which a replay, not stalling at the same frames, does not repeat."""
    control_commands_live: int = 0
    """Control-socket commands the live run applied (arm, disarm, set, stop: events of kind
    "control"); the replay runs the rule set as configured, without them."""

    @property
    def identical(self) -> bool:
        """Every frame the live run processed was replayed and every decision matched."""
        return not (self.differences or self.missing_from_replay or self.extra_in_replay)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "identical": self.identical}

    def describe(self) -> str:
        lines = [
            f"frames: {self.frames_live} live, {self.frames_replayed} replayed, "
            f"{self.frames_compared} compared",
        ]
        if self.missing_from_replay:
            lines.append(
                f"  {self.missing_from_replay} frames the live run processed were not replayed (not in the "
                f"video), first: {self.first_missing_frame_ids}"
            )
        if self.extra_in_replay:
            lines.append(f"  {self.extra_in_replay} frames replayed that the live run did not process")
        for difference in self.differences:
            lines.append(
                f"  {difference.kind} {difference.name}: differs on {difference.frames} frames, first "
                f"frame ids {difference.first_frame_ids}"
            )
        lines.append(
            f"poses: max point difference {self.max_point_difference_px:.3g} px, "
            f"{self.found_differently} points found in one run only; identities differ on "
            f"{self.identity_differences} frames"
        )
        if self.limit_cuts_live:
            lines.append(
                f"note: the live run's outputs were cut by safety limits {self.limit_cuts_live} times; "
                "limits run on wall-clock time and need not repeat in a faster-than-real-time replay"
            )
        if self.watchdog_stalls_live:
            lines.append(
                f"note: the live loop stalled {self.watchdog_stalls_live} times; each time the watchdog "
                "latched its outputs off (until their rules turned off and on again) and reset the "
                "frame toggles, which the replay does not repeat"
            )
        if self.control_commands_live:
            lines.append(
                f"note: the live run applied {self.control_commands_live} control-socket commands "
                "(arm, disarm, set, stop; see its events.jsonl), which the replay does not repeat"
            )
        lines.append(
            "decisions: IDENTICAL to the live run"
            if self.identical
            else "decisions: DIFFER from the live run"
        )
        return "\n".join(lines)


def compare_runs(live: RunData, replay: RunData) -> ReplayComparison:
    """Compare the replay's records with the live run's, frame id by frame id."""
    live_ids = live.frames["frame_id"].astype(np.int64)
    replay_ids = replay.frames["frame_id"].astype(np.int64)
    _, live_rows, replay_rows = np.intersect1d(live_ids, replay_ids, assume_unique=True, return_indices=True)
    missing = np.setdiff1d(live_ids, replay_ids)
    a, b = live.frames[live_rows], replay.frames[replay_rows]
    compared_ids = live_ids[live_rows]
    differences = []
    for kind, field_name, names in (
        ("rule", "rule_active", live.rule_names),
        ("output", "output_on", live.output_names),
    ):
        replay_names = replay.rule_names if kind == "rule" else replay.output_names
        for index, name in enumerate(names):
            if name not in replay_names:
                differences.append(Difference(kind, name, len(a), compared_ids[:FIRST_FEW].tolist()))
                continue
            other = replay_names.index(name)
            differs = a[field_name][:, index] != b[field_name][:, other]
            if differs.any():
                ids = compared_ids[differs]
                differences.append(Difference(kind, name, int(differs.sum()), ids[:FIRST_FEW].tolist()))
    live_points, replay_points = a["points"], b["points"]
    both = np.isfinite(live_points) & np.isfinite(replay_points)
    max_difference = float(np.abs(live_points[both] - replay_points[both]).max()) if both.any() else 0.0
    summary = live.summary or {}
    cuts = sum(output.get("limit_cuts", 0) for output in summary.get("outputs", {}).values())
    return ReplayComparison(
        frames_live=len(live_ids),
        frames_replayed=len(replay_ids),
        frames_compared=len(live_rows),
        missing_from_replay=len(missing),
        first_missing_frame_ids=missing[:FIRST_FEW].tolist(),
        extra_in_replay=len(np.setdiff1d(replay_ids, live_ids)),
        differences=differences,
        identity_differences=int((a["identities"] != b["identities"]).any(axis=1).sum()),
        max_point_difference_px=max_difference,
        found_differently=int((np.isfinite(live_points) != np.isfinite(replay_points)).sum()),
        limit_cuts_live=int(cuts),
        watchdog_stalls_live=int(summary.get("watchdog_stalls") or 0),
        control_commands_live=_control_commands(live),
    )


def _control_commands(run: RunData) -> int:
    try:
        events = read_events(run.run_dir)
    except RunFolderError:  # no events.jsonl: nothing to say
        return 0
    return sum(1 for event in events if event.get("kind") == "control")
