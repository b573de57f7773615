"""The HTTP protocol ``runbase server`` runs: uvicorn's h11 protocol with TCP_NODELAY.

asyncio turns Nagle's algorithm off only on sockets whose protocol number is TCP, and the socket
uvicorn binds for several workers has none (``socket.socket(family)``). Its answers, written as
headers then body, then wait for the client's delayed ACK: ~40 ms on every request but a
connection's first.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
