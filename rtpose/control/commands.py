"""Control requests: parsing and validation of the JSON a client sends, into typed commands.

A request is one ZeroMQ frame holding a UTF-8 JSON object with a ``command`` key; see
docs/control.md. ``parse_request`` raises ``RequestError`` naming the problem for anything else.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_REQUEST_BYTES = 65_536


class RequestError(ValueError):
    """A request is malformed or names something that does not exist; nothing was changed."""


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Arm:
    rule: str
    armed: bool


@dataclass(frozen=True)
class SetParameter:
    rule: str
    parameter: str
    value: float


@dataclass(frozen=True)
class Stop:
    pass


Command = Status | Arm | SetParameter | Stop

_KEYS = {
    "status": {"command"},
    "arm": {"command", "rule"},
    "disarm": {"command", "rule"},
    "set": {"command", "rule", "parameter", "value"},
    "stop": {"command"},
}


def parse_request(frames: list[bytes]) -> Command:
    """The command in a request (the frames of one ZeroMQ message); RequestError if malformed."""
    if len(frames) != 1:
        raise RequestError(f"a request is one frame of JSON, got {len(frames)} frames")
    raw = frames[0]
    if len(raw) > MAX_REQUEST_BYTES:
        raise RequestError(f"a request is at most {MAX_REQUEST_BYTES} bytes, got {len(raw)}")
    try:
        request = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise RequestError(f"the request is not UTF-8 JSON ({error})") from None
    if not isinstance(request, dict):
        raise RequestError("the request must be a JSON object with a 'command' key")
    command = request.get("command")
    if not isinstance(command, str) or command not in _KEYS:
        raise RequestError(f"unknown command {command!r} (known: {sorted(_KEYS)})")
    keys = set(request)
    if keys != _KEYS[command]:
        missing, extra = sorted(_KEYS[command] - keys), sorted(keys - _KEYS[command])
        raise RequestError(
            f"{command!r} takes keys {sorted(_KEYS[command])} (missing {missing}, unknown {extra})"
        )
    if command == "status":
        return Status()
    if command == "stop":
        return Stop()
    rule = _string(request, "rule")
    if command in ("arm", "disarm"):
        return Arm(rule, armed=command == "arm")
    value = request["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(f"'value' must be a finite number, got {value!r}")
    return SetParameter(rule, _string(request, "parameter"), float(value))


def _string(request: dict[str, Any], key: str) -> str:
    value = request[key]
    if not isinstance(value, str) or not value:
        raise RequestError(f"{key!r} must be a non-empty string, got {value!r}")
    return value


def encode_reply(reply: dict[str, Any]) -> bytes:
    """JSON for the reply (non-finite numbers become null, unknown objects their text)."""
    try:
        return json.dumps(reply, allow_nan=False, default=str).encode("utf-8")
    except ValueError:
        return json.dumps(_finite(reply), default=str).encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def error_reply(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}
