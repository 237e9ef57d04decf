"""Uvicorn's HTTP protocol with each response written to the socket once, not once per message.

Profiled at 8 connections, about a quarter of the event loop's time holding the GIL went to
``transport.write``: uvicorn writes the status line and headers as soon as the application sends
``http.response.start`` and the body on ``http.response.body``, two ``send`` system calls a
response on a socket with ``TCP_NODELAY`` (two segments, two wake-ups of the client), and
uvloop makes the call holding the GIL. ``Coalescing`` collects what is written while the
current callback runs and writes it in one call when the event loop next turns (the start and
the body of a response are sent without the loop turning between them), or at once before the
connection is closed. Nothing is reordered or dropped; a large body still goes through the
transport's own buffering and flow control.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttp"]


class Coalescing:
    """A transport whose writes within one turn of the event loop reach the socket together."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CoalescingHttp(HttpToolsProtocol):
    """``HttpToolsProtocol`` writing through ``Coalescing`` (pass as uvicorn's ``http``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = Coalescing(transport, self.loop)
