"""Config sections of the rules and what they refer to: rules (four kinds), regions of interest,
the px/mm calibration and the pose features' conventions. Part of the rig config
(``rtpose.core.config``); the rule language itself is documented in docs/rules.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from rtpose.core.config_section import Section as _Section

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
POINT_PATTERN = r"^[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*$"
RULE_KINDS = ("distance_below", "expression", "courtship", "plugin")
ROI_SHAPES = ("circle", "rect", "polygon")


class RuleBaseConfig(_Section):
    """The fields every rule kind has: name, output, timing, missing-data policy."""

    name: str = Field(pattern=NAME_PATTERN)
    """Rule name, used in events, the summary and the ZeroMQ topic ``event.<name>``."""
    output: str | None = None
    """DAQ output the rule drives while active (a name from ``daq.outputs``), or none."""
    min_duration_ms: float = Field(default=0.0, ge=0)
    """The rule activates once the condition has held this long (frame timestamps)."""
    release_ms: float = Field(default=0.0, ge=0)
    """The rule deactivates once the condition has been false this long."""
    refractory_ms: float = Field(default=0.0, ge=0)
    """After deactivating, the rule cannot activate again for this long (hold-off)."""
    max_on_ms: float | None = Field(default=None, gt=0)
    """The rule deactivates itself after being active this long, and waits for the condition to be
    false once before it can activate again; none: no limit (the output's own safety bound stays)."""
    missing: Literal["false", "hold"] = "false"
    """What a frame where the condition cannot be evaluated (an animal or node missing) counts as:
    "false", or "hold" (the last evaluated value)."""


class DistanceRuleConfig(RuleBaseConfig):
    kind: Literal["distance_below"] = "distance_below"
    """Rule kind (the default). "distance_below": the distance between two named points is below a
    threshold; the same as the expression ``distance(from, to) < max_distance_px px``."""
    from_point: str = Field(pattern=POINT_PATTERN)
    """``animal.node``, e.g. ``male.head``."""
    to_point: str = Field(pattern=POINT_PATTERN)
    """``animal.node``, e.g. ``female.abdomen``."""
    max_distance_px: float = Field(gt=0)
    """The condition holds while the distance is below this, in pixels."""


class ExpressionRuleConfig(RuleBaseConfig):
    kind: Literal["expression"]
    """"expression": a condition in the rule language (docs/rules.md)."""
    when: str = Field(min_length=1)
    """The condition, e.g. ``distance(male.head, female.abdomen) < 2 mm and abs(angle(male, female))
    < 25 deg``; checked by ``rtpose check`` against the model's nodes and the animals."""


class CourtshipRuleConfig(RuleBaseConfig):
    kind: Literal["courtship"]
    """"courtship": the fly courtship preset (docs/rules.md): the male's head near the female's
    abdomen, the female ahead of the male, and the male behind the female."""
    male: str = "male"
    """The courting animal (from ``identity.animals``)."""
    female: str = "female"
    """The courted animal (from ``identity.animals``)."""
    male_node: str = "head"
    """The male's node that must be near the female."""
    female_node: str = "abdomen"
    """The female's node the male must be near."""
    max_distance_mm: float = Field(default=2.0, gt=0)
    """Distance male_node → female_node below this, in mm (needs ``calibration.px_per_mm``)."""
    max_facing_angle_deg: float = Field(default=25.0, gt=0, le=180)
    """|angle(male, female)| below this: the female is within this angle of the male's heading."""
    min_rear_angle_deg: float = Field(default=145.0, ge=0, lt=180)
    """|angle(female, male)| above this: the male is behind the female (180 = straight behind)."""


class PluginRuleConfig(RuleBaseConfig):
    kind: Literal["plugin"]
    """"plugin": a Python condition for what the language cannot say (contract in docs/rules.md)."""
    function: str = Field(pattern=r"^.+:[A-Za-z_][A-Za-z0-9_]*$")
    """``package.module:factory`` or ``path/to/file.py:factory`` (relative to the config file)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Passed to the factory as ``setup.options``."""


def _rule_kind(value: object) -> str:
    """The rule's tag; a rule without ``kind`` is a distance_below rule (configs before kinds)."""
    if isinstance(value, dict):
        return str(value.get("kind", "distance_below"))
    return str(getattr(value, "kind", "distance_below"))


RuleConfig = Annotated[
    Annotated[DistanceRuleConfig, Tag("distance_below")]
    | Annotated[ExpressionRuleConfig, Tag("expression")]
    | Annotated[CourtshipRuleConfig, Tag("courtship")]
    | Annotated[PluginRuleConfig, Tag("plugin")],
    Discriminator(_rule_kind, custom_error_type="rule_kind", custom_error_message="unknown rule kind"),
]
"""One ``[[rules]]`` entry: one of the kinds, chosen by ``kind``."""


class _RoiCommon(_Section):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """ROI name, used in rule expressions: ``inside(male.head, <name>)``."""


class CircleRoiConfig(_RoiCommon):
    shape: Literal["circle"]
    """"circle": ``center_px`` and ``radius_px``."""
    center_px: tuple[float, float]
    """Centre (x, y) in frame pixels."""
    radius_px: float = Field(gt=0)
    """Radius in pixels; the edge counts as inside."""


class RectRoiConfig(_RoiCommon):
    shape: Literal["rect"]
    """"rect": an axis-aligned rectangle from ``min_px`` to ``max_px``."""
    min_px: tuple[float, float]
    """Corner (x, y) with the smallest coordinates, frame pixels."""
    max_px: tuple[float, float]
    """Corner (x, y) with the largest coordinates, frame pixels."""

    @model_validator(mode="after")
    def _ordered(self) -> RectRoiConfig:
        if not (self.min_px[0] < self.max_px[0] and self.min_px[1] < self.max_px[1]):
            raise ValueError("min_px must be below max_px in x and in y")
        return self


class PolygonRoiConfig(_RoiCommon):
    shape: Literal["polygon"]
    """"polygon": ``vertices_px`` in order; the last vertex joins the first."""
    vertices_px: list[tuple[float, float]] = Field(min_length=3)
    """Vertices (x, y) in frame pixels (at least 3)."""


def _roi_shape(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("shape", ""))
    return str(getattr(value, "shape", ""))


RoiConfig = Annotated[
    Annotated[CircleRoiConfig, Tag("circle")]
    | Annotated[RectRoiConfig, Tag("rect")]
    | Annotated[PolygonRoiConfig, Tag("polygon")],
    Discriminator(_roi_shape, custom_error_type="roi_shape", custom_error_message="unknown ROI shape"),
]
"""One ``[[rois]]`` entry, chosen by ``shape``."""


class CalibrationConfig(_Section):
    px_per_mm: float | None = Field(default=None, gt=0)
    """Pixels per millimetre in the frame; needed by rules with mm units and by the courtship preset."""


class FeaturesConfig(_Section):
    heading_nodes: tuple[str, str] = ("thorax", "head")
    """An animal's heading is the direction from the first node to the second; its position (for
    ``angle``) is the first node."""


class TrackerConfig(_Section):
    max_jump_px: float = Field(default=40.0, gt=0)
    """An instance further than this (mean keypoint distance) from a track's last pose does not
    continue that track."""
    max_missing_frames: int = Field(default=30, ge=0)
    """A track not seen for more frames than this is dropped; its animal is named afresh."""
    initial: Literal["size", "order"] = "size"
    """How new tracks get animal names: "size" (largest first, as method "size") or "order" (the
    free names in config order, to instances in slot order)."""
