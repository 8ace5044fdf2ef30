"""Tokenizer of the rule language: numbers, names, punctuation and comparison operators."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from rtpose.triggers.expression.errors import ExpressionError

MAX_EXPRESSION_LENGTH = 4000


class TokenKind(Enum):
    NUMBER = "number"
    NAME = "name"
    COMPARE = "comparison"
    LEFT = "'('"
    RIGHT = "')'"
    COMMA = "','"
    DOT = "'.'"
    MINUS = "'-'"
    SLASH = "'/'"
    END = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    column: int
    """1-based column of the first character."""


_PATTERNS = [
    (TokenKind.NUMBER, re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")),
    (TokenKind.NAME, re.compile(r"[A-Za-z_][A-Za-z0-9_]*")),
    (TokenKind.COMPARE, re.compile(r"<=|>=|==|!=|<|>")),
]
_SINGLE = {
    "(": TokenKind.LEFT,
    ")": TokenKind.RIGHT,
    ",": TokenKind.COMMA,
    ".": TokenKind.DOT,
    "-": TokenKind.MINUS,
    "/": TokenKind.SLASH,
}
_HINTS = {
    "&": "use 'and'",
    "|": "use 'or'",
    "!": "use 'not'",
    "=": "use < <= > >= (a rule compares with thresholds)",
    "°": "write deg (e.g. 25 deg)",
}


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an END token; ExpressionError on a stray character."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_LENGTH}",
            text[:80],
            1,
        )
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        character = text[position]
        if character.isspace():
            position += 1
            continue
        if character in _SINGLE and not (character == "." and text[position + 1 : position + 2].isdigit()):
            tokens.append(Token(_SINGLE[character], character, position + 1))
            position += 1
            continue
        for kind, pattern in _PATTERNS:
            match = pattern.match(text, position)
            if match:
                tokens.append(Token(kind, match.group(), position + 1))
                position = match.end()
                break
        else:
            hint = _HINTS.get(character, "")
            reason = f"unexpected character {character!r}" + (f": {hint}" if hint else "")
            raise ExpressionError(reason, text, position + 1)
    tokens.append(Token(TokenKind.END, "", len(text) + 1))
    return tokens
