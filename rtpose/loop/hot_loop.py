"""The hot loop: one thread runs engine → identity → rules → DAQ for each frame, synchronously.

Per frame it takes the newest frame from the ring, runs the stages, writes one record into the
preallocated record ring, hands the record's sequence number to the side channels (never
waiting), and beats the watchdog. Exceptions in a stage are re-raised as ``StageError`` naming the
stage and frame; the caller (``rtpose.session``) owns the exit path that drives outputs off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rtpose.core.clock import now_ns
from rtpose.core.errors import StageError
from rtpose.core.frame_record import NO_CAMERA_TIMESTAMP, Event
from rtpose.core.types import GrabbedFrame, Poses
from rtpose.engine.protocol import Engine
from rtpose.loop.frame_ring import FrameRing, RingClosed
from rtpose.loop.side_channel import RecordRing, SideChannel
from rtpose.loop.stats import ActivityTracker, TimestampLog
from rtpose.loop.watchdog import Watchdog
from rtpose.triggers.rule_set import RuleSet


class IdentityStage(Protocol):
    def assign(self, poses: Poses) -> None: ...


class OutputStage(Protocol):
    """What the loop needs of the DAQ layer (``rtpose.daq.limits.OutputController``)."""

    states: Any

    def update(self, desired_on: Any, frame_id: int, now_ns: int, values: Any = None) -> int: ...

    def drain_events(self) -> list[Event]: ...


class BetweenFrames(Protocol):
    """Work applied between frames on the loop thread (the control socket's commands)."""

    def apply_pending(self, frame_id: int) -> Sequence[Event]:
        """Apply what is pending (cheap when nothing is); return the events to record and publish."""
        ...


@dataclass
class LoopCounters:
    frames_processed: int = 0
    frames_dropped: int = 0
    last_frame_id: int = -1
    started_ns: int = 0
    last_frame_ns: int = 0
    last_rule_time_ns: int = 0
    """The time the rules saw for the last frame (camera timestamp, else grab time)."""
    events: int = 0


class HotLoop:
    def __init__(
        self,
        ring: FrameRing,
        engine: Engine,
        identity: IdentityStage,
        rules: RuleSet,
        outputs: OutputStage,
        records: RecordRing,
        channels: list[SideChannel],
        watchdog: Watchdog,
        activity: list[ActivityTracker],
    ) -> None:
        self.ring = ring
        self.engine = engine
        self.identity = identity
        self.rules = rules
        self.outputs = outputs
        self.records = records
        self.channels = channels
        self.watchdog = watchdog
        self.activity = activity
        self.timestamps = TimestampLog()
        self.counters = LoopCounters()
        self._records_class_probs = "class_probs" in (records.records.dtype.names or ())
        self.between_frames: BetweenFrames | None = None
        """Set before ``run``; called once per iteration, before taking the next frame."""

    def run(self, should_stop: Callable[[LoopCounters], bool], take_timeout_s: float = 0.05) -> None:
        """Process frames until ``should_stop`` returns True (checked every iteration) or the ring
        is closed and drained (the grab thread closes it when a finite source ends)."""
        self.counters.started_ns = now_ns()
        while not should_stop(self.counters):
            if self.between_frames is not None:
                self._dispatch_events(self.between_frames.apply_pending(self.counters.last_frame_id))
            try:
                taken = self.ring.take(take_timeout_s)
            except RingClosed:
                return
            if taken is None:
                continue  # no beat: a camera that stops delivering frames is a stall too
            index, frame = taken
            self._process(index, frame)
            self.watchdog.beat()

    def _process(self, index: int, frame: GrabbedFrame) -> None:
        counters = self.counters
        # the ring reuses ``frame`` once the slot is released: copy what is needed after that
        frame_id, grab_ns, camera_timestamp_ns = frame.frame_id, frame.grab_ns, frame.camera_timestamp_ns
        dropped = frame_id - counters.last_frame_id - 1 if counters.last_frame_id >= 0 else frame_id
        counters.frames_dropped += max(dropped, 0)
        counters.last_frame_id = frame_id

        engine_start_ns = now_ns()
        try:
            poses = self.engine.infer(frame.image)
        except Exception as error:
            self.ring.release(index)
            raise StageError("engine", frame_id, error) from error
        engine_end_ns = now_ns()
        self.ring.release(index)

        rule_time_ns = camera_timestamp_ns if camera_timestamp_ns is not None else grab_ns
        try:
            self.identity.assign(poses)
            self.rules.update(poses, rule_time_ns, frame_id)
        except Exception as error:
            raise StageError("rules", frame_id, error) from error
        rules_end_ns = now_ns()

        try:
            self.outputs.update(self.rules.desired_on, frame_id, rules_end_ns, self.rules.output_values)
        except Exception as error:
            raise StageError("daq", frame_id, error) from error
        daq_write_ns = now_ns()

        record = self.records.next_slot()
        record["frame_id"] = frame_id
        record["dropped_before"] = max(dropped, 0)
        record["camera_timestamp_ns"] = (
            NO_CAMERA_TIMESTAMP if camera_timestamp_ns is None else camera_timestamp_ns
        )
        record["grab_ns"] = grab_ns
        record["engine_start_ns"] = engine_start_ns
        record["engine_end_ns"] = engine_end_ns
        record["rules_end_ns"] = rules_end_ns
        record["daq_write_ns"] = daq_write_ns
        record["points"] = poses.points
        record["point_scores"] = poses.point_scores
        record["instance_scores"] = poses.instance_scores
        record["valid"] = poses.valid
        record["centroids"] = poses.centroids
        record["identities"] = poses.identities
        record["rule_active"] = self.rules.rule_active
        record["output_on"] = self.outputs.states
        if self._records_class_probs and poses.class_probs is not None:
            record["class_probs"] = poses.class_probs
        sequence = self.records.commit()
        for channel in self.channels:
            channel.submit_frame(sequence)
        self._dispatch_events(self.rules.drain_events())
        self._dispatch_events(self.outputs.drain_events())

        self.timestamps.append(grab_ns, engine_start_ns, engine_end_ns, rules_end_ns, daq_write_ns)
        counters.frames_processed += 1
        counters.last_frame_ns = daq_write_ns
        counters.last_rule_time_ns = rule_time_ns

    def _dispatch_events(self, events: Sequence[Event]) -> None:
        for event in events:
            self.dispatch_event(event)

    def dispatch_event(self, event: Event, block_s: float = 0.0) -> None:
        """Count an event and hand it to the side channels (``block_s`` > 0 only at shutdown)."""
        for tracker in self.activity:
            tracker.observe(event)
        self.counters.events += 1
        for channel in self.channels:
            channel.submit_event(event, block_s)
