"""The control socket binds to loopback unless CURVE keys are configured, and with keys only
the configured clients get answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import zmq
from conftest import free_tcp_address

from rtpose.control import ControlClient, ControlHandler, ControlServer, Mailbox
from rtpose.core.config import ControlConfig, parse_config
from rtpose.core.errors import ConfigError


def serve(config: ControlConfig, config_dir: Path) -> ControlServer:
    handler = ControlHandler(Mailbox(), [], lambda index, c: None, lambda: {"frames_processed": 7}, 0.1)  # type: ignore[arg-type, return-value]
    server = ControlServer(config, config_dir, handler)
    server.start()
    return server


@pytest.mark.parametrize("address", ["tcp://0.0.0.0:5556", "tcp://*:5556", "tcp://192.168.1.20:5556"])
def test_binding_beyond_loopback_needs_keys(address: str) -> None:
    with pytest.raises(ConfigError, match=r"control:.*reachable from other machines.*server_secret_key_file"):
        parse_config({"control": {"enabled": True, "address": address}})


def test_keys_must_come_in_pairs() -> None:
    with pytest.raises(ConfigError, match="needs server_secret_key_file"):
        parse_config({"control": {"client_public_keys": ["x" * 40]}})
    with pytest.raises(ConfigError, match="needs client_public_keys"):
        parse_config({"control": {"server_secret_key_file": "server.key"}})


def curve_setup(tmp_path: Path) -> tuple[ControlConfig, bytes, tuple[bytes, bytes]]:
    server_public, server_secret = zmq.curve_keypair()
    client = zmq.curve_keypair()
    (tmp_path / "server.key").write_bytes(server_secret)
    config = ControlConfig(
        enabled=True,
        address=free_tcp_address(),
        server_secret_key_file="server.key",
        client_public_keys=[client[0].decode()],
    )
    return config, server_public, client


def test_curve_client_with_a_known_key_is_answered(tmp_path: Path) -> None:
    config, server_public, client = curve_setup(tmp_path)
    server = serve(config, tmp_path)
    try:
        assert server.curve
        with ControlClient(config.address, server_public_key=server_public, client_keypair=client) as control:
            assert control.status()["frames_processed"] == 7
        stranger = zmq.curve_keypair()
        with (
            ControlClient(
                config.address, timeout_ms=500, server_public_key=server_public, client_keypair=stranger
            ) as control,
            pytest.raises(TimeoutError),
        ):
            control.status()
        with ControlClient(config.address, timeout_ms=500) as plain, pytest.raises(TimeoutError):
            plain.status()
    finally:
        server.stop()


def test_curve_on_any_interface_is_accepted_with_keys(tmp_path: Path) -> None:
    config, server_public, client = curve_setup(tmp_path)
    port = config.address.rsplit(":", 1)[1]
    config = config.model_copy(update={"address": f"tcp://0.0.0.0:{port}"})
    server = serve(ControlConfig.model_validate(config.model_dump()), tmp_path)
    try:
        address = f"tcp://127.0.0.1:{port}"
        with ControlClient(address, server_public_key=server_public, client_keypair=client) as control:
            assert control.status()["ok"] is True
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "does not exist"), (b"short", "holds no CURVE secret key"), (b"%" * 40, "not hold a valid")],
)
def test_bad_key_file_is_a_config_error(tmp_path: Path, content: bytes | None, problem: str) -> None:
    config, _, _ = curve_setup(tmp_path)
    if content is None:
        (tmp_path / "server.key").unlink()
    else:
        (tmp_path / "server.key").write_bytes(content)
    with pytest.raises(ConfigError, match=problem):
        serve(config, tmp_path)


def test_status_without_curve(tmp_path: Path) -> None:
    server = serve(ControlConfig(enabled=True, address=free_tcp_address()), tmp_path)
    try:
        with ControlClient(server.endpoint) as control:
            reply: dict[str, Any] = control.status()
            assert reply["frames_processed"] == 7 and reply["parameters"] == {}
    finally:
        server.stop()
