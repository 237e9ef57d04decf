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

It also bounds a request's head. httptools gathers a request line or a header however long it
grows, and uvicorn sets no limit on that path (h11's 16 KB is the other implementation's): one
connection sending an endless header made the server hold all of it (a probe: 200 MB sent, the
worker 260 MB larger, no answer). A head past ``MAX_HEAD_BYTES`` is answered 431 and the connection
closed, as nginx and h11 refuse one, and recorded for the DPO as any refused request is.

uvicorn's own 400 for bytes that are not HTTP (a TLS hello on the plain port, a port scanner's
probe) is recorded too, as an unknown path is: one entry a network a minute, with the count.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttp", "MAX_HEAD_BYTES"]

# A request line and its headers, together: a token, a few cookies and a long query need a few KB
# (nginx's default buffers hold 32 KB; h11's limit is 16 KB).
MAX_HEAD_BYTES = 64 * 1024
_TOO_LARGE = "request line and headers over 64 KB"
log = logging.getLogger("linkage.api")


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
        self._in_head, self._head_bytes = True, 0       # reading a request's line and headers; bytes so far

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0       # the next request on this connection

    def _refuse_head(self) -> None:
        """431 and close: what httptools has gathered goes with the connection. Before any route or the
        guard, so the security event is written here (within the same allowance a second), off the loop."""
        log.warning("refused a request whose line and headers passed %d bytes, from %s", MAX_HEAD_BYTES,
                    self.client[0] if self.client else "unknown")
        self._record_refusal(431)
        body = _TOO_LARGE.encode("ascii")
        self.transport.write(b"".join([
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
            b"content-type: text/plain; charset=utf-8\r\ncache-control: no-store\r\n"
            b"x-content-type-options: nosniff\r\n"
            b"content-security-policy: default-src 'none'; frame-ancestors 'none'\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\nconnection: close\r\n\r\n", body]))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes httptools cannot parse as HTTP; the DPO sees it (see the module)."""
        self._record_refusal(400)
        super().send_400_response(msg)

    def _record_refusal(self, status: int) -> None:
        """400 (not HTTP) or 431, before any route: within the refusals' allowance a second, and a 400
        within its network's one a minute (``allowance.take_walk``), as an unknown path is."""
        from linkage.access.allowance import take_budget, take_walk
        from linkage.service.oauth import network

        root = _api_app(self.app)
        where = network(self.client[0]) if self.client else "unknown"
        extra = {}
        try:
            if status == 400:
                repeats = take_walk(root, where, "not HTTP") if root is not None else None
                if repeats is None:
                    return
                extra["repeats"] = repeats
            dropped = take_budget(root) if root is not None else None
        except AttributeError:      # still starting: no services yet
            dropped = None
        if dropped is None:
            return
        entry = {"request_id": "", "client_id": None, "action": "security.invalid_request", "decision": "refused",
                 "status": status, "method": "", "route": "(not HTTP)" if status == 400 else "(not routed)",
                 "children": [], "fields": [], "remote": where, **extra,
                 **({"not_recorded_before": dropped} if dropped else {})}
        done = self.loop.run_in_executor(None, root.state.services.audit.append, entry)
        done.add_done_callback(lambda f: f.cancelled() or f.exception() is None
                               or log.error("could not audit a refused request: %s", f.exception()))


def _api_app(app):
    """The API's application under uvicorn's wrappers (proxy headers, logging): its state holds the services."""
    for _ in range(8):
        if app is None or getattr(getattr(app, "state", None), "services", None) is not None:
            return app
        app = getattr(app, "app", None)
    return None
