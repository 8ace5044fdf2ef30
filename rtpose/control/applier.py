"""Applies control commands on the loop thread, between frames, and reports what changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rtpose.control.commands import Arm, Stop
from rtpose.control.mailbox import Mailbox
from rtpose.core.clock import now_ns
from rtpose.core.frame_record import Event
from rtpose.loop.signals import StopRequest
from rtpose.triggers.rule_set import Rule, RuleSet

CONTROL_STOP_REASON = "control stop"
RUN_EVENT_NAME = "run"
"""The event name of commands that concern the whole run (``stop``)."""


@dataclass(frozen=True)
class ReplaceRule:
    """A parameter change, prepared (validated, rule built) off the loop: the loop only swaps."""

    rule: str
    parameter: str
    old_value: float
    value: float
    new_rule: Rule
    new_config: Any


class ControlApplier:
    """The loop's side of the control socket (``HotLoop.between_frames``).

    ``apply_pending`` is called once per loop iteration; it returns the ``control`` events to
    record and publish (an empty tuple, without allocating, when nothing is pending).
    """

    def __init__(self, mailbox: Mailbox, rules: RuleSet, stop: StopRequest) -> None:
        self._mailbox = mailbox
        self._rules = rules
        self._stop = stop

    def apply_pending(self, frame_id: int) -> Sequence[Event]:
        if not self._mailbox:
            return ()
        events = []
        for pending in self._mailbox.take_all():
            try:
                reply, event = self._apply(pending.command, frame_id)
            except Exception as error:  # never let a command take the loop down
                reply, event = {"ok": False, "error": f"{type(error).__name__}: {error}"}, None
            pending.complete(reply)
            if event is not None:
                events.append(event)
        return events

    def _apply(self, command: object, frame_id: int) -> tuple[dict[str, Any], Event | None]:
        t_ns = now_ns()
        if isinstance(command, Arm):
            previous = self._rules.set_armed(command.rule, command.armed)
            verb = "arm" if command.armed else "disarm"
            changed = {"rule": command.rule, "armed": [previous, command.armed]}
            detail = f"{verb} (was {'armed' if previous else 'disarmed'})"
            event = Event("control", command.rule, frame_id, t_ns, float(command.armed), detail)
            return {"ok": True, "command": verb, "frame_id": frame_id, "changed": changed}, event
        if isinstance(command, ReplaceRule):
            index = self._rules.names.index(command.rule)
            self._rules.rules[index] = command.new_rule
            changed = {"rule": command.rule, command.parameter: [command.old_value, command.value]}
            detail = f"set {command.parameter} {command.old_value} -> {command.value}"
            event = Event("control", command.rule, frame_id, t_ns, command.value, detail)
            return {"ok": True, "command": "set", "frame_id": frame_id, "changed": changed}, event
        if isinstance(command, Stop):
            already = self._stop.reason
            self._stop.request(CONTROL_STOP_REASON)
            event = Event("control", RUN_EVENT_NAME, frame_id, t_ns, 0.0, "stop")
            reply = {"ok": True, "command": "stop", "frame_id": frame_id, "changed": {"stop": True}}
            if already is not None:
                reply["note"] = f"the run was already stopping ({already})"
            return reply, event
        raise TypeError(f"not a loop command: {command!r}")
