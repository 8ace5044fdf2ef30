"""docs/config.md is generated from the config models; it must match the code."""

from pathlib import Path

from rtpose.config_docs import render


def test_config_reference_is_up_to_date() -> None:
    document = Path(__file__).resolve().parents[1] / "docs" / "config.md"
    assert document.read_text(encoding="utf-8") == render(), (
        "run: python -m rtpose.config_docs > docs/config.md"
    )
    assert "`rules[].max_distance_px`" not in render()  # sanity: sections, not flattened keys
    assert "## `rules[]`" in render() and "max_on_ms" in render()
