"""Generates docs/config.md from the config models' field docstrings, so the reference cannot
drift from the code (a test compares them). Run: python -m rtpose.config_docs > docs/config.md"""

from __future__ import annotations

import re
import typing
from enum import Enum

from pydantic import BaseModel, Tag

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


def _tagged_variants(annotation: object) -> list[tuple[str, type[BaseModel]]]:
    """The (label, model) pairs of a discriminated union of sections (``camera``, ``rules[]``),
    else []; the label names the tag field and value, e.g. ``with `backend = "synthetic"` ``."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]  # the union inside Annotated[..., Discriminator]
    variants: list[tuple[str, type[BaseModel]]] = []
    for member in typing.get_args(annotation):
        if typing.get_origin(member) is not typing.Annotated:
            return []
        model, *metadata = typing.get_args(member)
        tags = [item.tag for item in metadata if isinstance(item, Tag)]
        if not (tags and isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        variants.append((f' with `{_tag_field(model, tags[0])} = "{tags[0]}"`', model))
    return variants


def _tag_field(model: type[BaseModel], tag: str) -> str:
    """The field of ``model`` whose type is ``Literal[tag]`` (``backend``, ``kind``, ``shape``)."""
    for name, field in model.model_fields.items():
        if typing.get_origin(field.annotation) is typing.Literal and typing.get_args(field.annotation) == (
            tag,
        ):
            return name
    return "tag"


def _section(model: type[BaseModel], prefix: str, lines: list[str], variant: str = "") -> None:
    """Append ``model``'s table (and its sub-sections'); ``variant`` notes which union member it is."""
    rows: list[str] = []
    nested: list[tuple[str, type[BaseModel], str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        origin_args = typing.get_args(annotation)
        inner = origin_args[0] if origin_args else annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((f"{prefix}{name}", annotation, variant))
            continue
        variants = _tagged_variants(annotation)
        if variants:
            nested += [(f"{prefix}{name}", member, label) for label, member in variants]
            continue
        list_variants = _tagged_variants(inner) if typing.get_origin(annotation) is list else []
        if list_variants:
            nested += [(f"{prefix}{name}[]", member, label) for label, member in list_variants]
            continue
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            nested.append((f"{prefix}{name}[]", inner, variant))
            continue
        default = (
            "required" if field.is_required() else _default(field.get_default(call_default_factory=True))
        )
        description = (field.description or "").replace("\n", " ")
        rows.append(f"| `{name}` | `{_type_name(annotation)}` | `{default}` | {description} |")
    if rows:
        lines += [
            f"## `{prefix.rstrip('.') or '(top level)'}`{variant}",
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        lines += [*rows, ""]
    for name, sub_model, sub_variant in nested:
        _section(sub_model, f"{name}.", lines, sub_variant)


def render() -> str:
    lines = [
        "# Rig config reference",
        "",
        "A rig config is TOML (see `rtpose check --show-demo` for a complete example). Unknown keys",
        "are errors. Arrays of tables are written `[[rules]]`, `[[rois]]` and `[[daq.outputs]]`.",
        "The `[camera]` section takes the keys of the backend its `backend` names (without",
        "`backend`, it is the synthetic camera); a rule takes the keys of its `kind` (without `kind`,",
        "it is a `distance_below` rule), an ROI those of its `shape`. The rule language: docs/rules.md.",
        "Generated from the code by `python -m rtpose.config_docs`.",
        "",
    ]
    _section(RigConfig, "", lines)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
