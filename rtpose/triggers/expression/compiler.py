"""Checks an expression's names, types and units against the rig, and compiles it into nested
closures that are evaluated on every frame.

Conditions are three-valued: True, False or None (unknown: a feature could not be measured in
this frame). ``and``/``or``/``not`` follow Kleene logic (``False and unknown`` is False, ``True
or unknown`` is True, ``not unknown`` is unknown), so a missing animal can never make a
condition true by accident; what an unknown condition does to the rule is the rule's
``missing`` setting.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass

from rtpose.core.types import Poses
from rtpose.triggers.expression import features
from rtpose.triggers.expression.environment import FeatureEnvironment, Roi
from rtpose.triggers.expression.errors import ExpressionError
from rtpose.triggers.expression.frame_view import FrameView
from rtpose.triggers.expression.parser import parse
from rtpose.triggers.expression.syntax import (
    Call,
    Compare,
    Logical,
    Negate,
    Node,
    Not,
    Number,
    Reference,
    Span,
)

TRUTH = "truth"
LENGTH, ANGLE, SPEED, PLAIN = "length", "angle", "speed", "number"
_DESCRIPTIONS = {
    TRUTH: "a condition",
    LENGTH: "a length (px or mm)",
    ANGLE: "an angle (deg or rad)",
    SPEED: "a speed (px/s or mm/s)",
    PLAIN: "a plain number",
}
_EXAMPLE_UNITS = {LENGTH: "2 mm or 30 px", ANGLE: "25 deg", SPEED: "5 mm/s"}

FUNCTIONS = {
    "abs": "abs(value)",
    "angle": "angle(animal, other_animal)",
    "distance": "distance(animal.node, animal.node)",
    "heading": "heading(animal)",
    "inside": "inside(animal.node, roi)",
    "score": "score(animal.node)",
    "speed": "speed(animal.node)",
    "visible": "visible(animal.node)",
}


@dataclass(frozen=True)
class _Typed:
    kind: str
    evaluate: Callable[[FrameView], object]


class CompiledCondition:
    """A compiled expression: ``evaluate(poses, t_ns)`` → True, False or None (unknown)."""

    def __init__(
        self,
        text: str,
        root: Callable[[FrameView], bool | None],
        view: FrameView,
        stateful: list[features.Speed],
    ) -> None:
        self.text = text
        self._root = root
        self._view = view
        self._stateful = stateful

    def evaluate(self, poses: Poses, t_ns: int) -> bool | None:
        view = self._view
        view.load(poses, t_ns)
        for feature in self._stateful:
            feature.advance(view)
        return self._root(view)


def compile_condition(text: str, environment: FeatureEnvironment) -> CompiledCondition:
    """Parse and compile ``text``; ExpressionError naming the part (column, caret) it rejects."""
    tree = parse(text)
    compiler = _Compiler(text, environment)
    typed = compiler.compile(tree)
    if typed.kind != TRUTH:
        raise compiler.error(
            f"the expression is {_DESCRIPTIONS[typed.kind]}, not a condition: compare it "
            f"(e.g. ... < {_EXAMPLE_UNITS.get(typed.kind, '1')})",
            tree.span,
        )
    root: Callable[[FrameView], bool | None] = typed.evaluate  # type: ignore[assignment]
    return CompiledCondition(text, root, FrameView(len(environment.animals)), compiler.stateful)


class CompiledValue:
    """A compiled numeric expression: ``evaluate(poses, t_ns)`` → float in internal units (px,
    deg, px/s), NaN when it cannot be measured in this frame. Used by analog feature outputs."""

    def __init__(
        self,
        text: str,
        kind: str,
        root: Callable[[FrameView], float],
        view: FrameView,
        stateful: list[features.Speed],
    ) -> None:
        self.text = text
        self.kind = kind
        self._root = root
        self._view = view
        self._stateful = stateful

    def evaluate(self, poses: Poses, t_ns: int) -> float:
        view = self._view
        view.load(poses, t_ns)
        for feature in self._stateful:
            feature.advance(view)
        return float(self._root(view))


def compile_value(text: str, environment: FeatureEnvironment) -> CompiledValue:
    """Parse and compile a numeric expression (``distance(male.head, female.head)``); an
    ExpressionError when ``text`` is a condition or does not fit the rig."""
    tree = parse(text)
    compiler = _Compiler(text, environment)
    typed = compiler.compile(tree)
    if typed.kind == TRUTH:
        raise compiler.error("the expression is a condition; a feature output needs a number", tree.span)
    root: Callable[[FrameView], float] = typed.evaluate  # type: ignore[assignment]
    return CompiledValue(text, typed.kind, root, FrameView(len(environment.animals)), compiler.stateful)


class _Compiler:
    def __init__(self, text: str, environment: FeatureEnvironment) -> None:
        self.text = text
        self.environment = environment
        self.stateful: list[features.Speed] = []

    def error(self, reason: str, span: Span) -> ExpressionError:
        return ExpressionError(reason, self.text, span.column, span.length)

    def compile(self, node: Node) -> _Typed:
        if isinstance(node, Number):
            return self.number(node)
        if isinstance(node, Negate):
            return self.negate(node)
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Not):
            return self.negation(node)
        if isinstance(node, Logical):
            return self.logical(node)
        if isinstance(node, Call):
            return self.call(node)
        raise self.error(
            f"{node.text!r} on its own has no value: use it as a function argument, "
            f"e.g. distance({node.text if len(node.parts) == 2 else node.text + '.head'}, ...)",
            node.span,
        )

    # --- values -------------------------------------------------------------------------
    def number(self, node: Number) -> _Typed:
        value = node.value
        if node.unit is None:
            return _Typed(PLAIN, lambda view: value)
        kind, scale = self.unit(node.unit, node.unit_span or node.span)
        scaled = value * scale
        return _Typed(kind, lambda view: scaled)

    def unit(self, unit: str, span: Span) -> tuple[str, float]:
        px_per_mm = self.environment.px_per_mm
        if unit in ("px", "deg", "rad", "px/s", "px/ms"):
            return {
                "px": (LENGTH, 1.0),
                "deg": (ANGLE, 1.0),
                "rad": (ANGLE, 180.0 / math.pi),
                "px/s": (SPEED, 1.0),
                "px/ms": (SPEED, 1000.0),
            }[unit]
        if unit in ("mm", "mm/s", "mm/ms"):
            if px_per_mm is None:
                raise self.error(f"{unit} needs a calibration: set calibration.px_per_mm, or use px", span)
            return {
                "mm": (LENGTH, px_per_mm),
                "mm/s": (SPEED, px_per_mm),
                "mm/ms": (SPEED, 1000.0 * px_per_mm),
            }[unit]
        if unit in ("ms", "s"):
            raise self.error(
                f"no feature is a time: {unit} appears only in speeds (e.g. 5 mm/s); "
                "durations are the rule's min_duration_ms, release_ms, ...",
                span,
            )
        raise self.error(f"unknown unit {unit!r} (units: px, mm, deg, rad, px/s, mm/s, px/ms, mm/ms)", span)

    def negate(self, node: Negate) -> _Typed:
        operand = self.numeric(node.operand, "'-'")
        inner = operand.evaluate
        return _Typed(operand.kind, lambda view: -inner(view))  # type: ignore[operator]

    def numeric(self, node: Node, context: str) -> _Typed:
        typed = self.compile(node)
        if typed.kind == TRUTH:
            raise self.error(f"{context} needs a number, found a condition", node.span)
        return typed

    def truth(self, node: Node, context: str) -> _Typed:
        typed = self.compile(node)
        if typed.kind != TRUTH:
            raise self.error(
                f"{context} needs a condition, found {_DESCRIPTIONS[typed.kind]}: compare it "
                f"(e.g. ... < {_EXAMPLE_UNITS.get(typed.kind, '1')})",
                node.span,
            )
        return typed

    # --- conditions ---------------------------------------------------------------------
    def compare(self, node: Compare) -> _Typed:
        context = f"{node.operator!r}"
        left, right = self.numeric(node.left, context), self.numeric(node.right, context)
        if left.kind != right.kind:
            for side, other in ((node.left, right), (node.right, left)):
                if isinstance(side, Number) and side.unit is None and other.kind in _EXAMPLE_UNITS:
                    raise self.error(
                        f"give {side.value:g} a unit: the other side is {_DESCRIPTIONS[other.kind]} "
                        f"(e.g. {_EXAMPLE_UNITS[other.kind]})",
                        side.span,
                    )
            raise self.error(
                f"cannot compare {_DESCRIPTIONS[left.kind]} with {_DESCRIPTIONS[right.kind]}",
                node.operator_span,
            )
        return _Typed(TRUTH, _comparison(node.operator, left.evaluate, right.evaluate))  # type: ignore[arg-type]

    def negation(self, node: Not) -> _Typed:
        operand = self.truth(node.operand, "'not'").evaluate

        def evaluate(view: FrameView) -> bool | None:
            value = operand(view)
            return None if value is None else not value

        return _Typed(TRUTH, evaluate)

    def logical(self, node: Logical) -> _Typed:
        operands = tuple(self.truth(item, f"'{node.operator}'").evaluate for item in node.operands)
        return _Typed(TRUTH, _all(operands) if node.operator == "and" else _any(operands))  # type: ignore[arg-type]

    # --- functions ----------------------------------------------------------------------
    def call(self, node: Call) -> _Typed:
        name = node.name
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
            hint = f"; did you mean {close[0]}()?" if close else ""
            raise self.error(
                f"unknown function {name!r} (functions: {', '.join(sorted(FUNCTIONS))}){hint}",
                node.name_span,
            )
        expected = {"abs": 1, "angle": 2, "distance": 2, "heading": 1, "inside": 2}.get(name, 1)
        if len(node.arguments) != expected:
            raise self.error(
                f"{name}() takes {expected} argument{'s' if expected > 1 else ''}: {FUNCTIONS[name]}; "
                f"got {len(node.arguments)}",
                node.span,
            )
        arguments = node.arguments
        if name == "abs":
            operand = self.numeric(arguments[0], "abs()")
            inner = operand.evaluate
            return _Typed(operand.kind, lambda view: abs(inner(view)))  # type: ignore[arg-type]
        if name == "distance":
            (a, node_a), (b, node_b) = self.point(arguments[0], name), self.point(arguments[1], name)
            return _Typed(LENGTH, features.distance(a, node_a, b, node_b))
        if name == "heading":
            from_node, to_node = self.heading_nodes(node)
            return _Typed(ANGLE, features.heading(self.animal(arguments[0], name), from_node, to_node))
        if name == "angle":
            from_node, to_node = self.heading_nodes(node)
            a, b = self.animal(arguments[0], name), self.animal(arguments[1], name)
            return _Typed(ANGLE, features.relative_angle(a, b, from_node, to_node))
        if name == "speed":
            speed = features.Speed(*self.point(arguments[0], name))
            self.stateful.append(speed)
            return _Typed(SPEED, speed.evaluate)
        if name == "inside":
            animal, point_node = self.point(arguments[0], name)
            return _Typed(TRUTH, features.inside(animal, point_node, self.roi(arguments[1])))
        if name == "visible":
            return _Typed(TRUTH, features.visible(*self.point(arguments[0], name)))
        return _Typed(PLAIN, features.score(*self.point(arguments[0], name)))

    def reference(self, node: Node, function: str, what: str) -> Reference:
        if not isinstance(node, Reference):
            raise self.error(f"{function}() takes {what} here: {FUNCTIONS[function]}", node.span)
        return node

    def animal_index(self, name: str, span: Span) -> int:
        animals = self.environment.animals
        if name not in animals:
            raise self.error(f"unknown animal {name!r} (identity.animals: {', '.join(animals)})", span)
        return animals.index(name)

    def node_index(self, name: str, span: Span) -> int:
        nodes = self.environment.node_names
        if name not in nodes:
            raise self.error(f"unknown node {name!r} (nodes of the model: {', '.join(nodes)})", span)
        return nodes.index(name)

    def point(self, node: Node, function: str) -> tuple[int, int]:
        reference = self.reference(node, function, "animal.node (e.g. male.head)")
        animal = self.animal_index(reference.parts[0], reference.spans[0])
        if len(reference.parts) != 2:
            raise self.error(
                f"{function}() takes a point: animal.node (e.g. {reference.parts[0]}.head)", reference.span
            )
        return animal, self.node_index(reference.parts[1], reference.spans[1])

    def animal(self, node: Node, function: str) -> int:
        reference = self.reference(node, function, "an animal name")
        if len(reference.parts) != 1:
            raise self.error(
                f"{function}() takes an animal, not a point: {FUNCTIONS[function]} "
                f"(its heading comes from features.heading_nodes)",
                reference.span,
            )
        return self.animal_index(reference.parts[0], reference.spans[0])

    def roi(self, node: Node) -> Roi:
        reference = self.reference(node, "inside", "an ROI name")
        rois = self.environment.rois
        if len(reference.parts) != 1 or reference.parts[0] not in rois:
            known = ", ".join(rois) if rois else "none: declare them under [[rois]]"
            raise self.error(f"unknown ROI {reference.text!r} (ROIs: {known})", reference.span)
        return rois[reference.parts[0]]

    def heading_nodes(self, call: Call) -> tuple[int, int]:
        nodes = self.environment.node_names
        for name in self.environment.heading_nodes:
            if name not in nodes:
                raise self.error(
                    f"{call.name}() needs node {name!r} (features.heading_nodes), which the model does not "
                    f"have (nodes: {', '.join(nodes)})",
                    call.name_span,
                )
        from_name, to_name = self.environment.heading_nodes
        return nodes.index(from_name), nodes.index(to_name)


def _comparison(
    operator: str, left: Callable[[FrameView], float], right: Callable[[FrameView], float]
) -> Callable[[FrameView], bool | None]:
    def less(view: FrameView) -> bool | None:
        a, b = left(view), right(view)
        return None if a != a or b != b else a < b

    def less_equal(view: FrameView) -> bool | None:
        a, b = left(view), right(view)
        return None if a != a or b != b else a <= b

    def greater(view: FrameView) -> bool | None:
        a, b = left(view), right(view)
        return None if a != a or b != b else a > b

    def greater_equal(view: FrameView) -> bool | None:
        a, b = left(view), right(view)
        return None if a != a or b != b else a >= b

    return {"<": less, "<=": less_equal, ">": greater, ">=": greater_equal}[operator]


def _all(operands: tuple[Callable[[FrameView], bool | None], ...]) -> Callable[[FrameView], bool | None]:
    def evaluate(view: FrameView) -> bool | None:
        unknown = False
        for operand in operands:
            value = operand(view)
            if value is False:
                return False
            if value is None:
                unknown = True
        return None if unknown else True

    return evaluate


def _any(operands: tuple[Callable[[FrameView], bool | None], ...]) -> Callable[[FrameView], bool | None]:
    def evaluate(view: FrameView) -> bool | None:
        unknown = False
        for operand in operands:
            value = operand(view)
            if value is True:
                return True
            if value is None:
                unknown = True
        return None if unknown else False

    return evaluate
