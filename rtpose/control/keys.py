"""CURVE keys for the control socket: the server's secret key from a file, checked at start."""

from __future__ import annotations

from pathlib import Path

import zmq
import zmq.auth

from rtpose.core.errors import ConfigError


def load_server_secret_key(path: Path) -> bytes:
    """The Z85 secret key in ``path``: a ``zmq.auth`` certificate (``.key_secret``) or the key alone.

    ConfigError naming ``control.server_secret_key_file`` if the file is missing or holds no key.
    """
    field = "control.server_secret_key_file"
    if not path.is_file():
        raise ConfigError(f"{field}: {path} does not exist")
    secret: bytes | None
    try:
        _, secret = zmq.auth.load_certificate(path)
    except (ValueError, OSError):
        secret = None
    if secret is None:
        text = path.read_bytes().strip()
        secret = text if len(text) == 40 else None
    if secret is None:
        raise ConfigError(
            f"{field}: {path} holds no CURVE secret key (expected a zmq.auth '.key_secret' file "
            "or the 40-character Z85 key)"
        )
    try:
        zmq.curve_public(secret)
    except (ValueError, zmq.ZMQError):
        raise ConfigError(f"{field}: {path} does not hold a valid Z85 CURVE secret key") from None
    return secret
