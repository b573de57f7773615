"""The HTTP protocol of ``runbase server`` turns Nagle's algorithm off on every connection."""

from __future__ import annotations

import socket
from unittest.mock import MagicMock

from uvicorn.config import Config

from runbase.server._protocol import NoDelayH11Protocol


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("no request is made")


def test_connections_get_tcp_nodelay() -> None:
    # The socket uvicorn binds for several workers: no protocol number, so asyncio leaves
    # Nagle's algorithm on for the connections it accepts.
    listener = socket.socket(socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        transport = MagicMock()
        transport.get_extra_info.side_effect = lambda name, default=None: (
            accepted if name == "socket" else default
        )
        config = Config(app=_app)
        config.load()
        protocol = NoDelayH11Protocol(config, MagicMock(), app_state={})
        protocol.connection_made(transport)
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        for sock in (client, accepted, listener):
            sock.close()
