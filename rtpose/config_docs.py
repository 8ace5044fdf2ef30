"""Generates docs/config.md from the config models' field docstrings, so the reference cannot
drift from the code (a test compares them). Run: python -m rtpose.config_docs > docs/config.md"""

from __future__ import annotations

import re
import typing
from enum import Enum

from pydantic import BaseModel

from rtpose.core.config import RigConfig


def _type_name(annotation: object) -> str:
    text = str(annotation).replace("typing.", "").replace("rtpose.core.config.", "")
    text = re.sub(r"Annotated\[int, FieldInfo\(.*?\)\]\)\]", "int", text)
    return text.replace("<class '", "").replace("'>", "")


def _default(value: object) -> str:
    if isinstance(value, Enum):
        return repr(value.value)
    if isinstance(value, BaseModel):
        return "(section)"
    return repr(value)


def _section(model: type[BaseModel], prefix: str, lines: list[str]) -> None:
    rows: list[str] = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        origin_args = typing.get_args(annotation)
        inner = origin_args[0] if origin_args else annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((f"{prefix}{name}", annotation))
            continue
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            nested.append((f"{prefix}{name}[]", inner))
            continue
        default = (
            "required" if field.is_required() else _default(field.get_default(call_default_factory=True))
        )
        description = (field.description or "").replace("\n", " ")
        rows.append(f"| `{name}` | `{_type_name(annotation)}` | `{default}` | {description} |")
    if rows:
        lines += [
            f"## `{prefix.rstrip('.') or '(top level)'}`",
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        lines += [*rows, ""]
    for name, sub_model in nested:
        _section(sub_model, f"{name}.", lines)


def render() -> str:
    lines = [
        "# Rig config reference",
        "",
        "A rig config is TOML (see `rtpose check --show-demo` for a complete example). Unknown keys",
        "are errors. Arrays of tables are written `[[rules]]` and `[[daq.outputs]]`.",
        "Generated from the code by `python -m rtpose.config_docs`.",
        "",
    ]
    _section(RigConfig, "", lines)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
