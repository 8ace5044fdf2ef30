"""Built-in rule kinds, written in the rule language so that they run through the same compiler
and evaluator as hand-written expressions (and ``rtpose check`` can show what they mean)."""

from __future__ import annotations

from rtpose.core.rules_config import CourtshipRuleConfig, DistanceRuleConfig

# The published closed-loop courtship experiment (DESIGN.md, "Identity and rules"): the male's head
# near the female's abdomen (< ~2 mm), the female ahead of the male (|angle(male, female)| < ~25°:
# he faces her) and the male behind the female (|angle(female, male)| > ~145°).
COURTSHIP_DEFAULTS = {"max_distance_mm": 2.0, "max_facing_angle_deg": 25.0, "min_rear_angle_deg": 145.0}


def courtship_expression(config: CourtshipRuleConfig) -> str:
    male, female = config.male, config.female
    return (
        f"distance({male}.{config.male_node}, {female}.{config.female_node}) < {config.max_distance_mm:g} mm"
        f" and abs(angle({male}, {female})) < {config.max_facing_angle_deg:g} deg"
        f" and abs(angle({female}, {male})) > {config.min_rear_angle_deg:g} deg"
    )


def distance_below_expression(config: DistanceRuleConfig) -> str:
    return f"distance({config.from_point}, {config.to_point}) < {config.max_distance_px!r} px"
