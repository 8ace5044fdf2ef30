"""Recursive-descent parser of the rule language (grammar in docs/rules.md).

    condition  := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand (("<" | "<=" | ">" | ">=") operand)?
    operand    := "-" operand | NUMBER unit? | NAME "(" arguments? ")" | reference | "(" or_expr ")"
    reference  := NAME ("." NAME)?
    unit       := NAME ("/" NAME)?

Nesting is limited (``MAX_DEPTH``) so that no input can exhaust Python's recursion limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rtpose.triggers.expression.errors import ExpressionError
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
from rtpose.triggers.expression.tokens import Token, TokenKind, tokenize

MAX_DEPTH = 40
KEYWORDS = ("and", "or", "not")
COMPARISONS = ("<", "<=", ">", ">=")


def parse(text: str) -> Node:
    """The syntax tree of ``text``; ExpressionError (with the column) if it is not well formed."""
    return _Parser(text).parse()


def _span(token: Token) -> Span:
    return Span(token.column, token.column + max(len(token.text), 1))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0
        self.depth = 0

    # --- helpers --------------------------------------------------------------------------
    @property
    def current(self) -> Token:
        return self.tokens[self.position]

    def at(self, kind: TokenKind) -> bool:
        return self.tokens[self.position].kind is kind

    def advance(self) -> Token:
        token = self.tokens[self.position]
        if token.kind is not TokenKind.END:
            self.position += 1
        return token

    def is_keyword(self, word: str) -> bool:
        return self.at(TokenKind.NAME) and self.current.text == word

    def fail(self, reason: str, token: Token | None = None) -> ExpressionError:
        token = token or self.current
        return ExpressionError(reason, self.text, token.column, len(token.text))

    def describe(self, token: Token) -> str:
        return token.kind.value if token.kind is TokenKind.END else repr(token.text)

    def expect(self, kind: TokenKind, context: str) -> Token:
        if self.current.kind is not kind:
            raise self.fail(f"expected {kind.value} {context}, found {self.describe(self.current)}")
        return self.advance()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"expression is nested more than {MAX_DEPTH} levels deep")

    # --- grammar --------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.at(TokenKind.END):
            raise self.fail(
                "empty expression: write a condition, e.g. distance(male.head, female.abdomen) < 2 mm"
            )
        node = self.or_expression()
        if not self.at(TokenKind.END):
            token = self.current
            if token.kind is TokenKind.COMPARE:
                raise self.fail("chained comparison: write a < b and b < c", token)
            if token.kind is TokenKind.RIGHT:
                raise self.fail("unbalanced ')': no '(' to close", token)
            raise self.fail(f"expected 'and', 'or' or the end, found {self.describe(token)}", token)
        return node

    def or_expression(self) -> Node:
        return self.logical("or", self.and_expression)

    def and_expression(self) -> Node:
        return self.logical("and", self.not_expression)

    def logical(self, word: str, parse_operand: Callable[[], Node]) -> Node:
        operands: list[Node] = [parse_operand()]
        while self.is_keyword(word):
            self.advance()
            operands.append(parse_operand())
        if len(operands) == 1:
            return operands[0]
        return Logical(word, tuple(operands), _node_span(operands[0]).to(_node_span(operands[-1])))

    def not_expression(self) -> Node:
        if self.is_keyword("not"):
            token = self.advance()
            self.enter()
            operand = self.not_expression()
            self.depth -= 1
            return Not(operand, _span(token).to(_node_span(operand)))
        return self.comparison()

    def comparison(self) -> Node:
        left = self.operand()
        if not self.at(TokenKind.COMPARE):
            return left
        token = self.advance()
        if token.text not in COMPARISONS:
            raise self.fail(f"{token.text!r} is not a rule comparison: use < <= > >=", token)
        right = self.operand()
        return Compare(token.text, left, right, _span(token), _node_span(left).to(_node_span(right)))

    def operand(self) -> Node:
        token = self.current
        self.enter()
        try:
            if token.kind is TokenKind.MINUS:
                self.advance()
                inner = self.operand()
                return Negate(inner, _span(token).to(_node_span(inner)))
            if token.kind is TokenKind.NUMBER:
                return self.number()
            if token.kind is TokenKind.LEFT:
                self.advance()
                inner = self.or_expression()
                if not self.at(TokenKind.RIGHT):
                    raise self.fail(
                        f"expected ')' to close the '(' at column {token.column}, "
                        f"found {self.describe(self.current)}"
                    )
                self.advance()
                return inner
            if token.kind is TokenKind.NAME:
                if token.text in KEYWORDS:
                    raise self.fail(f"expected a value or a function before {token.text!r}", token)
                return self.call_or_reference()
            raise self.fail(f"expected a value, a function or '(', found {self.describe(token)}", token)
        finally:
            self.depth -= 1

    def number(self) -> Number:
        token = self.advance()
        value = float(token.text)
        if not math.isfinite(value):
            raise self.fail(f"number {token.text} is too large", token)
        if not self.at(TokenKind.NAME) or self.current.text in KEYWORDS:
            return Number(value, None, _span(token))
        unit_token = self.advance()
        unit, unit_span = unit_token.text, _span(unit_token)
        if self.at(TokenKind.SLASH):
            self.advance()
            per = self.expect(TokenKind.NAME, "after '/' in a unit (e.g. mm/s)")
            unit, unit_span = f"{unit}/{per.text}", unit_span.to(_span(per))
        return Number(value, unit, _span(token).to(unit_span), unit_span)

    def call_or_reference(self) -> Node:
        name = self.advance()
        if self.at(TokenKind.LEFT):
            self.advance()
            arguments: list[Node] = []
            if not self.at(TokenKind.RIGHT):
                arguments.append(self.or_expression())
                while self.at(TokenKind.COMMA):
                    self.advance()
                    arguments.append(self.or_expression())
            closing = self.current
            if closing.kind is not TokenKind.RIGHT:
                raise self.fail(
                    f"expected ',' or ')' in the arguments of {name.text}(), found {self.describe(closing)}"
                )
            self.advance()
            return Call(name.text, _span(name), tuple(arguments), _span(name).to(_span(closing)))
        parts, spans = [name.text], [_span(name)]
        if self.at(TokenKind.DOT):
            self.advance()
            node = self.expect(TokenKind.NAME, f"after '{name.text}.' (a node name)")
            parts.append(node.text)
            spans.append(_span(node))
            if self.at(TokenKind.DOT):
                raise self.fail("a reference is animal.node: one '.' only")
        return Reference(tuple(parts), tuple(spans))


def _node_span(node: Node) -> Span:
    return node.span
