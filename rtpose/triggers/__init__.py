"""Triggers: pose rules with timing, evaluated on every processed frame."""

from rtpose.triggers.distance import DistanceBelowRule
from rtpose.triggers.rule_set import Rule, RuleSet, build_rule_set

__all__ = ["DistanceBelowRule", "Rule", "RuleSet", "build_rule_set"]
