"""Triggers: pose rules with timing, evaluated on every processed frame."""

from rtpose.triggers.condition_rule import ConditionRule
from rtpose.triggers.distance import DistanceBelowRule
from rtpose.triggers.rule_set import Rule, RuleSet, build_rule, build_rule_set, feature_environment
from rtpose.triggers.timing import RuleTimer

__all__ = [
    "ConditionRule",
    "DistanceBelowRule",
    "Rule",
    "RuleSet",
    "RuleTimer",
    "build_rule",
    "build_rule_set",
    "feature_environment",
]
