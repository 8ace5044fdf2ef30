"""The rule language: ``when = "distance(male.head, female.abdomen) < 2 mm and ..."``.

A tokenizer and a recursive-descent parser build a small syntax tree (never ``eval``); the
compiler checks names, types and units against the rig (animals, the model's nodes, ROIs,
calibration) and turns the tree into nested closures that read the frame's arrays directly.
The language reference with examples is docs/rules.md.
"""

from rtpose.triggers.expression.compiler import (
    CompiledCondition,
    CompiledValue,
    compile_condition,
    compile_value,
)
from rtpose.triggers.expression.environment import FeatureEnvironment, Roi
from rtpose.triggers.expression.errors import ExpressionError
from rtpose.triggers.expression.parser import parse

__all__ = [
    "CompiledCondition",
    "CompiledValue",
    "ExpressionError",
    "FeatureEnvironment",
    "Roi",
    "compile_condition",
    "compile_value",
    "parse",
]
