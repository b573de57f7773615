"""The HTTP protocol of ``runbase server`` turns Nagle's algorithm off on every connection."""

from __future__ import annotations

import asyncio
import socket

from uvicorn.config import Config
from uvicorn.server import ServerState

from runbase.server._protocol import NoDelayH11Protocol


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("no request is made")


async def _accepted_nodelay() -> int:
    """TCP_NODELAY of a connection accepted by an asyncio server running the protocol on the
    kind of socket uvicorn binds for several workers (no protocol number, so asyncio leaves
    Nagle's algorithm on)."""
    loop = asyncio.get_running_loop()
    config = Config(app=_app)
    config.load()
    state = ServerState()
    listener = socket.socket(socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    server = await loop.create_server(
        lambda: NoDelayH11Protocol(config, state, app_state={}, _loop=loop), sock=listener
    )
    _, writer = await asyncio.open_connection(*listener.getsockname())
    try:
        for _ in range(100):  # the server side accepts the connection asynchronously
            if state.connections:
                break
            await asyncio.sleep(0.01)
        (protocol,) = state.connections
        sock = protocol.transport.get_extra_info("socket")
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_connections_get_tcp_nodelay() -> None:
    assert asyncio.run(_accepted_nodelay()) != 0
