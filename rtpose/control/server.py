"""The control socket's thread: a ZeroMQ REP socket, optionally CURVE-secured, serving a handler.

Every request gets exactly one reply (REP). A request larger than ``MAX_REQUEST_BYTES`` makes
libzmq drop the connection (ZMQ_MAXMSGSIZE), so that client gets no reply. With CURVE, a client
whose public key is not in ``client_public_keys`` is refused at the handshake by the ZAP
authenticator: its requests never reach the handler.
"""

from __future__ import annotations

import threading
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator

from rtpose.control.commands import MAX_REQUEST_BYTES, encode_reply
from rtpose.control.handler import ControlHandler
from rtpose.control.keys import load_server_secret_key
from rtpose.core.config import ControlConfig
from rtpose.core.errors import ConfigError

POLL_MS = 100


class _AllowedKeys:
    def __init__(self, keys: list[str]) -> None:
        self._keys = {key.encode("ascii") for key in keys}

    def callback(self, domain: str, key: bytes) -> bool:
        """pyzmq's ZAP authenticator passes the client's key Z85-encoded."""
        return key in self._keys


class ControlServer:
    """Binds at start (ConfigError if it cannot), serves on its own thread until ``stop``."""

    def __init__(self, config: ControlConfig, config_dir: Path, handler: ControlHandler) -> None:
        self._handler = handler
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._authenticator: ThreadAuthenticator | None = None
        self._stop = threading.Event()
        self._socket = self._context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES + 1024)
        try:
            if config.server_secret_key_file is not None:
                self._secure(config, config_dir)
            self._socket.bind(config.address)
        except zmq.ZMQError as error:
            self._close()
            raise ConfigError(f"control.address: cannot bind {config.address!r}: {error}") from None
        except BaseException:
            self._close()
            raise
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.curve = config.server_secret_key_file is not None
        self._thread = threading.Thread(target=self._serve, name="rtpose-control", daemon=True)

    def _secure(self, config: ControlConfig, config_dir: Path) -> None:
        assert config.server_secret_key_file is not None
        secret = load_server_secret_key(config_dir / config.server_secret_key_file)
        self._authenticator = ThreadAuthenticator(self._context)
        self._authenticator.start()
        self._authenticator.configure_curve_callback("*", _AllowedKeys(config.client_public_keys))
        self._socket.setsockopt(zmq.CURVE_SERVER, 1)
        self._socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
        self._socket.setsockopt(zmq.CURVE_PUBLICKEY, zmq.curve_public(secret))

    def start(self) -> None:
        self._thread.start()

    def stats(self) -> dict[str, int | str | bool]:
        """For the run summary: where it listened, commands applied and requests refused."""
        return {
            "endpoint": self.endpoint,
            "curve": self.curve,
            "applied": self._handler.applied,
            "refused": self._handler.errors,
        }

    def _serve(self) -> None:
        socket = self._socket
        while not self._stop.is_set():
            if not socket.poll(POLL_MS, zmq.POLLIN):
                continue
            try:
                frames = socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                continue
            reply = self._handler.handle(frames)
            socket.send(encode_reply(reply))

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop serving and close the socket. Idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._close()

    def _close(self) -> None:
        if not self._socket.closed:
            self._socket.close()
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        self._context.term()
