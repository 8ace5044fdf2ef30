"""The syntax tree of a rule expression. Every node knows the columns it spans, so the compiler
can point at the part it rejects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    column: int
    """1-based column of the first character."""
    end: int
    """1-based column just after the last character."""

    @property
    def length(self) -> int:
        return max(self.end - self.column, 1)

    def to(self, other: Span) -> Span:
        return Span(self.column, other.end)


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    unit: str | None
    span: Span
    unit_span: Span | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """``female``, ``female.abdomen`` or an ROI name: what a function takes as an argument."""

    parts: tuple[str, ...]
    spans: tuple[Span, ...]

    @property
    def span(self) -> Span:
        return self.spans[0].to(self.spans[-1])

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    name_span: Span
    arguments: tuple[Node, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    operator: str
    left: Node
    right: Node
    operator_span: Span
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    span: Span


@dataclass(frozen=True, slots=True)
class Logical:
    """``and`` / ``or`` over two or more operands, evaluated left to right."""

    operator: str
    operands: tuple[Node, ...]
    span: Span


Node = Number | Reference | Call | Negate | Compare | Not | Logical
