"""A rule = a condition (compiled expression, preset or plugin) + timing + a missing-data policy."""

from __future__ import annotations

from typing import Protocol

from rtpose.core.rules_config import RuleBaseConfig
from rtpose.core.types import Poses
from rtpose.triggers.timing import RuleTimer


class Condition(Protocol):
    def evaluate(self, poses: Poses, t_ns: int) -> bool | None:
        """True, False, or None when it cannot be evaluated in this frame (data missing)."""
        ...


class ConditionRule:
    """Feeds a condition's per-frame value through the rule's timing.

    A frame where the condition is unknown counts as False (``missing = "false"``), or as the last
    known value (``missing = "hold"``): a lost animal never turns a rule on by itself.
    """

    def __init__(self, name: str, condition: Condition, timer: RuleTimer, hold_when_missing: bool = False):
        self.name = name
        self.condition = condition
        self._timer = timer
        self._hold_when_missing = hold_when_missing
        self.last_condition = False

    @classmethod
    def from_config(cls, config: RuleBaseConfig, condition: Condition) -> ConditionRule:
        return cls(config.name, condition, rule_timer(config), config.missing == "hold")

    def update(self, poses: Poses, t_ns: int) -> bool:
        value = self.condition.evaluate(poses, t_ns)
        if value is None:
            value = self.last_condition if self._hold_when_missing else False
        self.last_condition = value
        return self._timer.update(value, t_ns)

    @property
    def active(self) -> bool:
        return self._timer.active


def rule_timer(config: RuleBaseConfig) -> RuleTimer:
    return RuleTimer(config.min_duration_ms, config.release_ms, config.refractory_ms, config.max_on_ms)
