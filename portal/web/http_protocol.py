"""uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

With several worker processes, uvicorn binds the listening socket itself with protocol number 0,
and asyncio turns Nagle off only on sockets whose protocol is TCP. Responses written in two parts
(headers, then body) then wait for the client's delayed ACK: about 40 ms per request. Setting
TCP_NODELAY on each accepted connection restores what a single-process server gets by default.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import suppress

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]
