"""A rig's rules, evaluated together on each frame, and the outputs they ask for."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from rtpose.core.config import RigConfig
from rtpose.core.daq_config import AnalogFeatureOutputConfig
from rtpose.core.errors import ConfigError
from rtpose.core.frame_record import Event
from rtpose.core.rules_config import (
    CircleRoiConfig,
    CourtshipRuleConfig,
    DistanceRuleConfig,
    ExpressionRuleConfig,
    RectRoiConfig,
    RoiConfig,
    RuleConfig,
)
from rtpose.core.types import Poses
from rtpose.triggers.condition_rule import ConditionRule
from rtpose.triggers.distance import DistanceBelowRule
from rtpose.triggers.expression import (
    CompiledCondition,
    CompiledValue,
    FeatureEnvironment,
    compile_condition,
    compile_value,
)
from rtpose.triggers.expression.environment import CircleRoi, PolygonRoi, RectRoi, Roi
from rtpose.triggers.plugin import PluginSetup, load_plugin_condition
from rtpose.triggers.presets import courtship_expression


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

    def __init__(
        self,
        rules: list[Rule],
        rule_outputs: list[int | None],
        num_outputs: int,
        output_features: dict[int, CompiledValue] | None = None,
    ) -> None:
        self.rules = rules
        self.names = [rule.name for rule in rules]
        self._rule_outputs = rule_outputs
        self.rule_active = np.zeros(len(rules), np.uint8)
        self.desired_on = np.zeros(num_outputs, np.bool_)
        self.armed = np.ones(len(rules), np.bool_)
        """A disarmed rule is still evaluated (``rule_active``, events) but drives no output."""
        self.events: list[Event] = []
        self.output_values = np.full(num_outputs, np.nan)
        """Per output, the feature value of an analog feature output (NaN: not measurable, or
        not a feature output); internal units (px, deg, px/s)."""
        self._output_features = sorted((output_features or {}).items())

    def update(self, poses: Poses, t_ns: int, frame_id: int) -> None:
        for feature_output, feature in self._output_features:
            self.output_values[feature_output] = feature.evaluate(poses, t_ns)
        self.desired_on.fill(False)
        for index, rule in enumerate(self.rules):
            active = rule.update(poses, t_ns)
            if active != bool(self.rule_active[index]):
                self.rule_active[index] = active
                self.events.append(Event("rule", rule.name, frame_id, t_ns, float(active)))
            output = self._rule_outputs[index]
            if active and output is not None and self.armed[index]:
                self.desired_on[output] = True

    def set_armed(self, name: str, armed: bool) -> bool:
        """Arm or disarm the rule ``name`` (loop thread, between frames); returns the previous
        state. KeyError if there is no such rule."""
        if name not in self.names:
            raise KeyError(name)
        index = self.names.index(name)
        previous = bool(self.armed[index])
        self.armed[index] = armed
        return previous

    def drain_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events


def feature_environment(config: RigConfig, node_names: list[str]) -> FeatureEnvironment:
    """What the rig's expressions may name: its animals, the model's nodes, ROIs, calibration."""
    return FeatureEnvironment(
        animals=tuple(config.identity.animals),
        node_names=tuple(node_names),
        px_per_mm=config.calibration.px_per_mm,
        rois={roi.name: _roi(roi) for roi in config.rois},
        heading_nodes=config.features.heading_nodes,
    )


def _roi(config: RoiConfig) -> Roi:
    if isinstance(config, CircleRoiConfig):
        return CircleRoi(config.center_px[0], config.center_px[1], config.radius_px)
    if isinstance(config, RectRoiConfig):
        return RectRoi(config.min_px[0], config.min_px[1], config.max_px[0], config.max_px[1])
    return PolygonRoi(tuple(config.vertices_px))


def build_rule(
    index: int, config: RuleConfig, environment: FeatureEnvironment, config_dir: Path = Path(".")
) -> Rule:
    """One rule from its config; ConfigError naming ``rules.<index>.<field>`` if it does not fit the rig."""
    if isinstance(config, DistanceRuleConfig):
        return DistanceBelowRule(config, list(environment.animals), list(environment.node_names), index)
    if isinstance(config, ExpressionRuleConfig):
        return ConditionRule.from_config(config, _compile(config.when, environment, f"rules.{index}.when"))
    if isinstance(config, CourtshipRuleConfig):
        expression = courtship_expression(config)
        if environment.px_per_mm is None:
            raise ConfigError(
                f"rules.{index}: the courtship preset measures in mm: set calibration.px_per_mm "
                f"(pixels per millimetre in the frame)"
            )
        field_name = f"rules.{index} (courtship preset, as the expression below)"
        return ConditionRule.from_config(config, _compile(expression, environment, field_name))
    setup = PluginSetup(
        config.name,
        environment.animals,
        environment.node_names,
        environment.px_per_mm,
        dict(config.options),
        config_dir,
    )
    return ConditionRule.from_config(config, load_plugin_condition(config, setup, f"rules.{index}.function"))


def _compile(text: str, environment: FeatureEnvironment, field_name: str) -> CompiledCondition:
    try:
        return compile_condition(text, environment)
    except ConfigError as error:
        raise ConfigError(f"{field_name}: {error}") from None


def build_rule_set(config: RigConfig, node_names: list[str], config_dir: Path = Path(".")) -> RuleSet:
    environment = feature_environment(config, node_names)
    output_names = [output.name for output in config.daq.outputs]
    rules = [build_rule(index, rule, environment, config_dir) for index, rule in enumerate(config.rules)]
    rule_outputs = [None if r.output is None else output_names.index(r.output) for r in config.rules]
    output_features = {
        index: _compile_value(output.feature, environment, f"daq.outputs.{index}.feature")
        for index, output in enumerate(config.daq.outputs)
        if isinstance(output, AnalogFeatureOutputConfig)
    }
    return RuleSet(rules, rule_outputs, len(output_names), output_features)


def _compile_value(text: str, environment: FeatureEnvironment, field_name: str) -> CompiledValue:
    try:
        return compile_value(text, environment)
    except ConfigError as error:
        raise ConfigError(f"{field_name}: {error}") from None
