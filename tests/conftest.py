"""Shared test helpers. Tests run without a GPU, camera or DAQ driver."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def demo_config_text() -> str:
    from rtpose.cli import demo_config_path

    return demo_config_path().read_text(encoding="utf-8")


def free_tcp_address() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def demo_config_dict(**sections: dict[str, object]) -> dict[str, object]:
    """The demo rig config as a dict, with the given sections' keys replaced."""
    import tomllib

    from rtpose.cli import demo_config_path

    data: dict[str, object] = tomllib.loads(demo_config_path().read_text(encoding="utf-8"))
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **values}  # type: ignore[dict-item]
        else:
            data[name] = values
    return data


def demo_test_config(**sections: dict[str, object]):  # type: ignore[no-untyped-def]
    """The demo config for tests: streaming on a free port, plus the given section overrides."""
    from rtpose.core.config import parse_config

    stream = {"address": free_tcp_address(), **sections.pop("stream", {})}
    return parse_config(demo_config_dict(stream=stream, **sections))
