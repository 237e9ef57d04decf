"""The ASGI guard in front of every request: request id, body limit, security headers, and
error responses that never reflect what the caller sent.

Reflection is stopped here, once, rather than message by message: whatever an error handler,
a validator or a library writes into a 4xx/5xx body, every value the request submitted (query,
path, headers, the claims inside a bearer token, body fields and keys) is replaced by
``[redacted]`` before it leaves. Values the API itself publishes in its OpenAPI document (enum
members, field and path names) are not reflections and are left alone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Callable, Iterable
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse

from linkage import boundedjson
from linkage.api.refusals import record_refusal

__all__ = ["JSON_CSP", "RequestGuard", "csp", "published_words", "replaying", "security_headers"]

REDACTED = "[redacted]"
MIN_REFLECTED = 4           # shorter values ("1", "yes") are noise, not reflections

_POLICY_TAIL = {"frame-ancestors": "'none'", "base-uri": "'none'", "form-action": "'self'"}


def csp(**directives: str) -> str:
    """A Content-Security-Policy: ``default-src 'none'`` plus what is named, never framed."""
    parts = {"default-src": "'none'", **{k.replace("_", "-"): v for k, v in directives.items()}, **_POLICY_TAIL}
    return "; ".join(f"{k} {v}" for k, v in parts.items())


JSON_CSP = csp()


def security_headers(hsts: bool) -> list[tuple[bytes, bytes]]:
    """Headers on every response; Strict-Transport-Security only when served behind TLS."""
    headers = {
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "content-security-policy": JSON_CSP,
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "permissions-policy": "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                              "microphone=(), payment=(), usb=()",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
    }
    if hsts:
        headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"
    return [(k.encode(), v.encode()) for k, v in headers.items()]


def published_words(openapi: dict) -> set[str]:
    """Every name and enum member the API publishes: echoing one of those is not a reflection."""
    words: set[str] = {"detail", "loc", "msg", "type", "error", "error_description"}

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                words.add(str(key))
                if key == "enum" and isinstance(value, list):
                    words.update(str(v) for v in value)
                elif key in ("name", "const", "default", "title") and isinstance(value, str):
                    words.add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(openapi)
    for path in openapi.get("paths", {}):
        words.update(seg for seg in path.split("/") if seg and not seg.startswith("{"))
    return words


def _leaves(node, out: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            out.add(str(key))
            _leaves(value, out)
    elif isinstance(node, list):
        for item in node:
            _leaves(item, out)
    elif isinstance(node, str):
        out.add(node)


def _token_claims(credentials: str, out: set[str]) -> None:
    """The header and claims inside a JWT, which a verifier may quote back in its error."""
    for segment in credentials.split(".")[:2]:
        try:
            _leaves(boundedjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))), out)
        except ValueError:
            continue


def submitted_values(scope, body: bytes) -> set[str]:
    """Every string the caller put into this request."""
    out: set[str] = set()
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        out.update((key, value))
    out.update(scope.get("path", "").split("/"))
    for name, raw in scope.get("headers", []):
        value = raw.decode("latin-1")
        out.add(value)
        if name.lower() == b"authorization":
            scheme, _, credentials = value.partition(" ")
            out.add(credentials)
            _token_claims(credentials, out)
            if scheme.lower() == "basic":
                try:
                    out.update(base64.b64decode(credentials).decode().split(":", 1))
                except ValueError:
                    pass
    if body:
        text = body.decode("utf-8", "replace")
        out.add(text)
        try:
            _leaves(boundedjson.loads(text), out)
        except ValueError:
            for key, value in parse_qsl(text, keep_blank_values=True):
                out.update((key, value))
    return out


def _redact_text(text: str, values: list[str]) -> str:
    """``text`` with no ``value`` left in it, not even one made across a replacement's edge."""
    for _ in range(8):
        hits = [v for v in values if v in text]
        if not hits:
            return text
        for value in hits:
            # A value inside "[redacted]" itself gets a mark it cannot be part of.
            text = text.replace(value, REDACTED if value not in REDACTED else "[...]")
    return ""


def _redact_json(node, values: list[str]):
    if isinstance(node, dict):
        return {_redact_text(str(k), values): _redact_json(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_redact_json(v, values) for v in node]
    if isinstance(node, str):
        return _redact_text(node, values)
    return node


def redact(body: bytes, content_type: str, values: Iterable[str]) -> bytes:
    """``body`` with every submitted value taken out, longest first."""
    ordered = sorted(values, key=len, reverse=True)
    if not ordered:
        return body
    if "json" in content_type:
        try:
            return json.dumps(_redact_json(json.loads(body), ordered), ensure_ascii=False,
                              separators=(",", ":")).encode()
        except ValueError:
            pass
    return _redact_text(body.decode("utf-8", "replace"), ordered).encode()


def replaying(body: bytes, receive):
    """An ASGI ``receive`` that gives ``body`` (already read, whole) once, then what ``receive`` gives."""
    replayed = False

    async def replay():
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}
    return replay


def _form(scope) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
    return content_type.startswith((b"application/x-www-form-urlencoded", b"multipart/form-data"))


def _escaped_page(scope, headers) -> bool:
    """A staff page (``/app``, HTML): Jinja escapes every value in it, and showing a person what
    they typed beside the error is the point of the page. Redacting there would also break it:
    the form's CSRF token, the path in its action, and ``document`` in the inline script (the
    browser sends ``Sec-Fetch-Dest: document``), whose CSP hash would then no longer match."""
    path = scope.get("path", "")
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    return (path == "/app" or path.startswith("/app/")) and content_type.startswith(b"text/html")


def _pin(root):
    """The served data, held for one request (``Services.enter``); None before start-up."""
    state = getattr(root, "state", None)
    for _ in range(3):      # released between the read and the hold: a newer one is served by then
        services = getattr(state, "services", None)
        if services is None:
            return None
        if services.enter():
            return services
    return None


class RequestGuard:
    """Give each request an id, refuse oversized bodies, add security headers, and strip
    submitted values from error responses.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
    wraps every response in a stream and costs a noticeable share of each request.
    ``published`` returns the API's own words (see ``published_words``), asked once, lazily.
    """

    def __init__(self, app, max_body_bytes: int, hsts: bool = False,
                 published: Callable[[], set[str]] = set, body_seconds: float = 30.0) -> None:
        self.app, self.max, self.body_seconds = app, max_body_bytes, body_seconds
        self.headers = security_headers(hsts)
        self._published_source = published
        self._published: set[str] | None = None

    def published(self) -> set[str]:
        if self._published is None:
            self._published = self._published_source()
        return self._published

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        root = scope.get("app")         # the API's application; a mounted one replaces scope["app"]
        # The data this request runs on stays open until it ends, whatever snapshot is published meanwhile.
        pinned = _pin(root)
        if pinned is not None:
            scope["state"]["services"] = pinned
        try:
            return await self._guarded(scope, receive, send, request_id, root)
        finally:
            if pinned is not None:
                pinned.leave()

    async def _guarded(self, scope, receive, send, request_id: str, root) -> None:
        extra = [(b"x-request-id", request_id.encode()), *self.headers]
        received: list[bytes] = []
        held: dict | None = None
        chunks: list[bytes] = []
        started = False

        async def send_guarded(message):
            nonlocal held, started
            if message["type"] == "http.response.start":
                started = True
                await record_refusal(scope, message["status"], root)     # 401, 4xx input, 429: a security event
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [(n, v) for n, v in extra if n not in present]
                if message["status"] >= 400 and not _escaped_page(scope, headers):
                    held = message          # errors are small: hold them to take out reflections
                    return
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await self._send_error(scope, held, b"".join(chunks), b"".join(received), send)
                return
            await send(message)

        async def recording():
            message = await receive()
            if message["type"] == "http.request":
                received.append(message.get("body", b""))
            return message

        app_receive = recording
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max):
            return await self._too_large(scope, receive, send_guarded)
        if scope["method"] in ("POST", "PUT", "PATCH"):
            # Read it all (up to the limit) before the app sees any of it: a chunked body cannot
            # say its size, and a body nested past the parser's recursion is refused here, once,
            # for every route (it would otherwise be a 500 wherever the body is parsed).
            # Within ``body_seconds``: a body trickled a byte at a time would hold the connection
            # and this task for as long as its sender liked (slowloris).
            # asyncio's own timeout: anyio's cancel scope cost more on every POST (profiled).
            more, size, deadline = True, 0, asyncio.get_running_loop().time() + self.body_seconds
            while more:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    return await JSONResponse({"detail": f"request body not received within "
                                                         f"{self.body_seconds:g} s"}, 408)(scope, receive, send_guarded)
                if message["type"] != "http.request":
                    return
                received.append(message.get("body", b""))
                size += len(received[-1])
                more = message.get("more_body", False)
                if size > self.max:
                    return await self._too_large(scope, receive, send_guarded)
            try:
                if not _form(scope):        # forms are never parsed as JSON
                    boundedjson.check_depth(b"".join(received))
            except boundedjson.TooDeep as exc:
                return await JSONResponse({"detail": str(exc)}, 422)(scope, receive, send_guarded)
            app_receive = replaying(b"".join(received), receive)
        try:
            await self.app(scope, app_receive, send_guarded)
        except Exception:
            # Starlette's last-resort 500 is sent outside this guard, without its headers.
            if not started:
                await JSONResponse({"detail": "internal error"}, 500)(scope, receive, send_guarded)
            raise

    async def _send_error(self, scope, start: dict, body: bytes, request_body: bytes, send) -> None:
        headers = start["headers"]
        content_type = next((v.decode("latin-1") for n, v in headers if n.lower() == b"content-type"), "")
        published = self.published()
        values = {v for v in submitted_values(scope, request_body)
                  if len(v) >= MIN_REFLECTED and v not in published}
        body = redact(body, content_type, values)
        headers = [(n, v) for n, v in headers if n.lower() != b"content-length"]
        await send({**start, "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _too_large(self, scope, receive, send):
        await JSONResponse({"detail": f"request body over {self.max} bytes"}, 413)(scope, receive, send)
