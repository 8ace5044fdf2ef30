"""``rtpose listen``: print a stream as it arrives and optionally write it to a JSON-lines file.

Poses update one line in place (rate, frame id, latency, instances, losses) at most
``REFRESH_S`` apart; each event and the first ``meta`` of each camera get a line of their own.
On a terminal the pose line is redrawn with a carriage return; otherwise it is printed as a new
line at the same pace, so logs stay readable.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, TextIO

from rtpose.core.clock import now_ns
from rtpose.stream.client import ALL_TOPICS, Subscriber
from rtpose.stream.decode import EventMessage, Message, MetaMessage, PoseMessage

REFRESH_S = 0.2
RATE_WINDOW_S = 1.0


def message_to_json(message: Message) -> dict[str, Any]:
    """One JSON-lines record (arrays as nested lists, NaN as null)."""
    if isinstance(message, PoseMessage):
        header = {key: value for key, value in message.header.items() if key != "arrays"}
        arrays = {name: _nan_to_none(array.tolist()) for name, array in message.arrays.items()}
        return {"type": "pose", **header, **arrays}
    if isinstance(message, EventMessage):
        return {"type": "event", **message.header}
    return {"type": "meta", **message.header}


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, list):
        return [_nan_to_none(item) for item in value]
    if isinstance(value, float) and value != value:
        return None
    return value


class Listener:
    def __init__(self, output: TextIO, record: IO[str] | None) -> None:
        self.output = output
        self.record = record
        self.poses = 0
        self.events = 0
        self._arrivals: deque[float] = deque()
        self._last_line_s = 0.0
        self._line_open = False
        self._tty = bool(getattr(output, "isatty", lambda: False)())
        self._meta_seen: set[str] = set()

    def handle(self, message: Message, subscriber: Subscriber) -> None:
        if self.record is not None:
            self.record.write(json.dumps(message_to_json(message)) + "\n")
        if isinstance(message, PoseMessage):
            self.poses += 1
            self._pose_line(message, subscriber)
        elif isinstance(message, EventMessage):
            self.events += 1
            self.line(
                f"event {message.kind} {message.name} = {message.value:g} at frame {message.frame_id}"
                + (f" ({message.detail})" if message.detail else "")
            )
        elif isinstance(message, MetaMessage) and message.camera not in self._meta_seen:
            self._meta_seen.add(message.camera)
            self.line(
                f"meta {message.camera}: nodes {message.node_names}, animals {message.animal_names}, "
                f"rules {message.rule_names}, outputs {message.output_names}, K={message.max_instances}"
            )

    def _pose_line(self, message: PoseMessage, subscriber: Subscriber) -> None:
        now_s = time.monotonic()
        self._arrivals.append(now_s)
        while self._arrivals and now_s - self._arrivals[0] > RATE_WINDOW_S:
            self._arrivals.popleft()
        if now_s - self._last_line_s < REFRESH_S:
            return
        self._last_line_s = now_s
        latency_ms = (now_ns() - message.t_grab_ns) / 1e6 if message.t_grab_ns else float("nan")
        names = subscriber.meta.get(message.camera)
        animals = [
            names.animal_names[i] if names and 0 <= i < len(names.animal_names) else str(i)
            for i in message.identities[message.valid].tolist()
        ]
        on = [i for i, value in enumerate(message.output_on.tolist()) if value]
        text = (
            f"{message.camera}: {len(self._arrivals) / RATE_WINDOW_S:6.1f} Hz  frame {message.frame_id}  "
            f"latency {latency_ms:6.2f} ms  animals {animals}  outputs on {on}  lost {subscriber.poses_lost}"
        )
        if self._tty:
            self.output.write("\r\x1b[2K" + text)
            self._line_open = True
        else:
            self.output.write(text + "\n")
        self.output.flush()

    def line(self, text: str) -> None:
        if self._line_open:
            self.output.write("\n")
            self._line_open = False
        self.output.write(text + "\n")
        self.output.flush()

    def finish(self, subscriber: Subscriber) -> None:
        self.line(
            f"received {self.poses} poses and {self.events} events; lost {subscriber.poses_lost} poses "
            f"and {subscriber.events_lost} events (seq gaps); {subscriber.malformed} malformed"
        )


def listen(
    address: str,
    topics: Sequence[str] = ALL_TOPICS,
    out: Path | None = None,
    seconds: float | None = None,
    output: TextIO | None = None,
) -> Listener:
    """Listen until ``seconds`` have passed (None: until Ctrl-C); return the listener's counts."""
    import sys

    output = output or sys.stdout
    record = out.open("w", encoding="utf-8") if out is not None else None
    listener = Listener(output, record)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        with Subscriber(address, topics) as subscriber:
            try:
                while deadline is None or time.monotonic() < deadline:
                    wait_ms = (
                        200 if deadline is None else max(min(200, (deadline - time.monotonic()) * 1000), 0)
                    )
                    try:
                        message = subscriber.receive(round(wait_ms))
                    except ValueError as error:
                        listener.line(f"malformed message skipped: {error}")
                        continue
                    if message is not None:
                        listener.handle(message, subscriber)
            except KeyboardInterrupt:
                pass
            listener.finish(subscriber)
    finally:
        if record is not None:
            record.close()
    return listener
