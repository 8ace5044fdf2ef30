"""The ``distance_below`` rule kind: the distance between two named points is below a threshold
(e.g. the male's head near the female's abdomen), through the rule language."""

from __future__ import annotations

from rtpose.core.errors import ConfigError
from rtpose.core.rules_config import DistanceRuleConfig
from rtpose.triggers.condition_rule import ConditionRule, rule_timer
from rtpose.triggers.expression import FeatureEnvironment, compile_condition
from rtpose.triggers.presets import distance_below_expression


class DistanceBelowRule(ConditionRule):
    """Active while |from_point − to_point| < max_distance_px has held for min_duration_ms.

    A missing animal or node makes the condition unknown, which counts as false by default.
    """

    def __init__(self, config: DistanceRuleConfig, animals: list[str], node_names: list[str], index: int = 0):
        for field_name in ("from_point", "to_point"):
            animal, node = getattr(config, field_name).split(".", 1)
            if animal not in animals:
                raise ConfigError(
                    f"rules.{index}.{field_name}: animal {animal!r} is not in identity.animals {animals}"
                )
            if node not in node_names:
                raise ConfigError(
                    f"rules.{index}.{field_name}: node {node!r} is not a node of the model "
                    f"(nodes: {node_names})"
                )
        environment = FeatureEnvironment(tuple(animals), tuple(node_names))
        try:
            condition = compile_condition(distance_below_expression(config), environment)
        except ConfigError as error:  # names that the language cannot spell (e.g. with '-')
            raise ConfigError(f"rules.{index}: {error}") from None
        super().__init__(config.name, condition, rule_timer(config), config.missing == "hold")
        self.config = config
