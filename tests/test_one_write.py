"""Each response reaches the socket in one write (api/protocol.py), against a real server.

Uvicorn wrote a response's status line and headers, then its body, as two system calls (two
TCP segments on a ``TCP_NODELAY`` socket), holding the GIL in uvloop: a quarter of the event
loop's time in a lookup's profile. The server's own count of write system calls
(``/proc/PID/io``, ``syscw``) shows how many a response costs; the responses must still arrive
whole, in order, and before a ``Connection: close`` shuts the socket.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from apiserver import Server
from browserpages import ENV

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("onewrite") / "data", env=ENV)
    yield server
    server.stop()


def _writes(pid: int) -> int:
    return int(next(line for line in Path(f"/proc/{pid}/io").read_text().splitlines()
                    if line.startswith("syscw:")).split()[1])


def _read_response(sock: socket.socket, pending: bytearray) -> bytes:
    """One whole response (Content-Length framed) from ``sock``."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response's headers"
        pending += chunk
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response's body"
        rest += chunk
    pending[:] = rest[length:]
    return head + b"\r\n\r\n" + rest[:length]


@pytest.mark.parametrize("path", [b"/openapi.json", b"/nowhere"])
def test_a_response_is_one_write_and_arrives_whole(server, path):
    """Routes answered on the event loop, without a thread (which wakes the loop with a write of
    its own): the OpenAPI document (tens of kilobytes) and a 404. Each was two writes."""
    n, ask = 100, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        pending = bytearray()
        sock.sendall(ask)
        first = _read_response(sock, pending)
        before = _writes(server.proc.pid)
        for _ in range(n):
            sock.sendall(ask)
            again = _read_response(sock, pending)
            assert again.partition(b"\r\n\r\n")[2] == first.partition(b"\r\n\r\n")[2]
        writes = _writes(server.proc.pid) - before
    assert writes <= 1.5 * n, f"{writes} write system calls for {n} responses"     # was 2 a response


def test_pipelined_requests_and_a_closing_response_all_arrive_in_order(server):
    """Three requests sent at once, the last asking to close: three whole answers, then the end."""
    ask = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        sock.sendall(ask + b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                     + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        pending = bytearray()
        statuses = [_read_response(sock, pending).split(b"\r\n", 1)[0] for _ in range(3)]
        assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200 OK"]
        assert not pending and sock.recv(100) == b""        # closed, after the whole last answer
