"""A rig's rules, evaluated together on each frame, and the outputs they ask for."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rtpose.core.config import RigConfig
from rtpose.core.frame_record import Event
from rtpose.core.types import Poses
from rtpose.triggers.distance import DistanceBelowRule


class Rule(Protocol):
    name: str

    def update(self, poses: Poses, t_ns: int) -> bool:
        """Feed one frame (poses with identities assigned); return whether the rule is active."""
        ...


class RuleSet:
    """Evaluates every rule per frame into preallocated arrays and queues state-change events.

    ``rule_active`` (R, uint8) holds each rule's state after the last frame and ``desired_on``
    (O, bool) which outputs the rules ask to be on (any rule mapped to an output holds it on).
    """

    def __init__(self, rules: list[Rule], rule_outputs: list[int | None], num_outputs: int) -> None:
        self.rules = rules
        self.names = [rule.name for rule in rules]
        self._rule_outputs = rule_outputs
        self.rule_active = np.zeros(len(rules), np.uint8)
        self.desired_on = np.zeros(num_outputs, np.bool_)
        self.events: list[Event] = []

    def update(self, poses: Poses, t_ns: int, frame_id: int) -> None:
        self.desired_on.fill(False)
        for index, rule in enumerate(self.rules):
            active = rule.update(poses, t_ns)
            if active != bool(self.rule_active[index]):
                self.rule_active[index] = active
                self.events.append(Event("rule", rule.name, frame_id, t_ns, float(active)))
            output = self._rule_outputs[index]
            if active and output is not None:
                self.desired_on[output] = True

    def drain_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events


def build_rule_set(config: RigConfig, node_names: list[str]) -> RuleSet:
    output_names = [output.name for output in config.daq.outputs]
    rules: list[Rule] = [
        DistanceBelowRule(rule, config.identity.animals, node_names, index)
        for index, rule in enumerate(config.rules)
    ]
    rule_outputs = [None if r.output is None else output_names.index(r.output) for r in config.rules]
    return RuleSet(rules, rule_outputs, len(output_names))
