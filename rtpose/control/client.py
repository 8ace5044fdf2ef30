"""A small Python client for the control socket (docs/control.md).

    with ControlClient("tcp://127.0.0.1:5556") as control:
        control.disarm("male_approach")
        control.set("male_approach", "max_distance_px", 20)
        print(control.status()["rules"])

A REQ socket: one request, one reply. After a timeout the socket is replaced (REQ cannot send
again before it has a reply), so the client stays usable.
"""

from __future__ import annotations

import json
from typing import Any

import zmq


class ControlReplyError(RuntimeError):
    """The server answered ``ok: false``; the message is its ``error``."""


class ControlClient:
    def __init__(
        self,
        address: str,
        *,
        timeout_ms: int = 5000,
        server_public_key: bytes | None = None,
        client_keypair: tuple[bytes, bytes] | None = None,
    ) -> None:
        """``server_public_key`` and ``client_keypair`` (public, secret; Z85) turn CURVE on."""
        self.address = address
        self.timeout_ms = timeout_ms
        self._curve = (server_public_key, client_keypair)
        self._socket = self._connect()

    def _connect(self) -> zmq.Socket[bytes]:
        socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        server_public_key, client_keypair = self._curve
        if server_public_key is not None and client_keypair is not None:
            socket.setsockopt(zmq.CURVE_SERVERKEY, server_public_key)
            socket.setsockopt(zmq.CURVE_PUBLICKEY, client_keypair[0])
            socket.setsockopt(zmq.CURVE_SECRETKEY, client_keypair[1])
        socket.connect(self.address)
        return socket

    def request_raw(self, frames: list[bytes]) -> dict[str, Any]:
        """Send ``frames`` as they are; the decoded reply. TimeoutError if none came in time."""
        self._socket.send_multipart(frames)
        if not self._socket.poll(self.timeout_ms, zmq.POLLIN):
            self._socket.close()
            self._socket = self._connect()
            raise TimeoutError(f"no reply from the control socket at {self.address} in {self.timeout_ms} ms")
        reply: dict[str, Any] = json.loads(self._socket.recv())
        return reply

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Send one command; the reply. ControlReplyError if the server refused it."""
        reply = self.request_raw([json.dumps({"command": command, **arguments}).encode()])
        if not reply.get("ok"):
            raise ControlReplyError(str(reply.get("error")))
        return reply

    def status(self) -> dict[str, Any]:
        return self.request("status")

    def arm(self, rule: str) -> dict[str, Any]:
        return self.request("arm", rule=rule)

    def disarm(self, rule: str) -> dict[str, Any]:
        return self.request("disarm", rule=rule)

    def set(self, rule: str, parameter: str, value: float) -> dict[str, Any]:
        return self.request("set", rule=rule, parameter=parameter, value=value)

    def stop(self) -> dict[str, Any]:
        return self.request("stop")

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
