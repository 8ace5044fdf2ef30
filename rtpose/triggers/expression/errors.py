"""Errors in rule expressions say what is wrong and where: a column and a caret line."""

from __future__ import annotations

from rtpose.core.errors import ConfigError


class ExpressionError(ConfigError):
    """A rule expression that cannot be parsed or compiled.

    ``column`` is 1-based (the first character is column 1; ``len(text) + 1`` is the end of the
    text), ``length`` is how many characters the caret underlines, ``reason`` the bare message.
    """

    def __init__(self, reason: str, text: str, column: int, length: int = 1) -> None:
        self.reason = reason
        self.text = text
        self.column = column
        self.length = max(length, 1)
        super().__init__(self.describe())

    def describe(self) -> str:
        shown = self.text.replace("\n", " ").replace("\t", " ")
        caret = " " * (self.column - 1) + "^" * self.length
        return f"{self.reason} (column {self.column})\n    {shown}\n    {caret}"
