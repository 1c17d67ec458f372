"""ASGI middleware for every HTTP path, /mcp included: request ids, access logs
and metrics, security headers, body size limit, authentication and rate limits.

Pure ASGI (not BaseHTTPMiddleware) so that streamed responses (SSE, MCP) pass
through untouched and the caller's identity reaches the endpoint through a
context variable.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid

import anyio
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_rag import auth, metrics
from mcp_rag.errors import McpRagError, Unauthorized
from mcp_rag.logs import request_context
from mcp_rag.service import Service
from mcp_rag.tracing import tracer

log = logging.getLogger("mcp_rag.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Paths that need a caller: the API, MCP and the runbook aliases. The UI's static
# files, /docs and the operations endpoints are public.
PROTECTED = ("/v1/", "/mcp", "/ingest", "/search", "/ask")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
CSP = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def is_protected(path: str) -> bool:
    """/v1/..., and /mcp, /ingest, /search, /ask themselves or below them (never /searching)."""
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in PROTECTED)


async def send_problem(send: Send, status: int, title: str, detail: str, headers: list | None = None) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ObservedRequests:
    """Request id in and out, one JSON access-log line, metrics by route template,
    and security headers on every response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        context = {"request_id": request_id}
        token = request_context.set(context)
        status = 500
        started = time.perf_counter()
        path = scope.get("path", "")

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", request_id.encode()), *SECURITY_HEADERS]
                if not path.startswith(("/docs", "/redoc")):
                    extra.append((b"content-security-policy", CSP))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        span = tracer.start_span("http.request", attributes={"http.request.method": scope.get("method", "")})
        try:
            with trace.use_span(span, end_on_exit=True):
                await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("static" if not is_protected(path) else "unmatched")
            span.update_name(f"{scope.get('method', '')} {template}")
            span.set_attribute("http.route", template)
            span.set_attribute("http.response.status_code", status)
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            metrics.http_requests.labels(method, template, str(status)).inc()
            metrics.http_latency.labels(method, template).observe(elapsed)
            if template not in ("/health", "/metrics", "static"):
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 1),
                    },
                )
            request_context.reset(token)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """413 for bodies over the limit, whether announced by Content-Length or not."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.upload_max_bytes if scope["path"].startswith("/v1/import") else self.max_bytes
        length = dict(scope.get("headers") or []).get(b"content-length")
        detail = f"request body is larger than {limit} bytes"
        if length is not None and length.isdigit() and int(length) > limit:
            return await send_problem(send, 413, "Payload too large", detail)
        seen = 0
        exceeded = started = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Frameworks may turn a failed body read into their own 400; the
            # real reason is the size, so that response is replaced by a 413.
            nonlocal started
            if exceeded:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except _TooLarge:
            pass
        if exceeded and not started:
            await send_problem(send, 413, "Payload too large", detail)


class _Bucket:
    """Token bucket per caller: `rate` requests a minute, bursts up to `rate`."""

    # Past this many callers, those whose bucket has refilled are forgotten (they start full anyway).
    max_callers = 10_000

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.refill = per_minute / 60.0
        self.levels: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else seconds until a request will be."""
        now = time.monotonic()
        with self.lock:
            if key not in self.levels and len(self.levels) >= self.max_callers:
                full = self.capacity / self.refill
                self.levels = {k: v for k, v in self.levels.items() if now - v[1] < full}
            level, at = self.levels.get(key, (self.capacity, now))
            level = min(self.capacity, level + (now - at) * self.refill)
            if level >= 1:
                self.levels[key] = (level - 1, now)
                return 0.0
            self.levels[key] = (level, now)
            return (1 - level) / self.refill


def _retry_after(wait: float) -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", str(max(1, int(wait + 0.999))).encode())]


class Authenticate:
    """Bearer tokens for the API, MCP and runbook paths, then a rate limit.

    Without an Authorization header the caller is LOCAL only while the server
    may run open: bound to loopback (or started with --insecure) and no active
    token exists yet. Once a token is created, every caller needs one.

    Failed authentications are limited per client address: past the limit, a
    wrong or revoked token gets 429 with Retry-After instead of 401. A valid
    token is still served, so one misbehaving client behind a shared address (a
    NAT, a proxy) does not lock the others out.
    """

    def __init__(
        self, app: ASGIApp, service: Service, open_allowed: bool, rate_per_minute: int, failures_per_minute: int = 0
    ):
        self.app = app
        self.service = service
        self.open_allowed = open_allowed
        self.bucket = _Bucket(rate_per_minute) if rate_per_minute > 0 else None
        self.failures = _Bucket(failures_per_minute) if failures_per_minute > 0 else None

    async def _principal(self, scope: Scope) -> auth.Principal:
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        if header:
            kind, _, secret = header.partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                raise Unauthorized("use 'Authorization: Bearer <token>'")
            return await anyio.to_thread.run_sync(auth.authenticate, self.service, secret.strip())
        if self.open_allowed:
            # Asked on every request: the database (on a worker thread) only when the cached answer is stale.
            exist = auth.tokens_exist_cached()
            if exist is None:
                exist = await anyio.to_thread.run_sync(auth.tokens_exist, self.service)
            if not exist:
                return auth.LOCAL
        raise Unauthorized("an API token is required: 'Authorization: Bearer <token>' (mcp-rag tokens create)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_protected(scope["path"]) or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("local", 0))[0]
        try:
            principal = await self._principal(scope)
        except McpRagError as exc:
            presented = b"authorization" in dict(scope.get("headers") or [])
            if exc.status == 401 and presented and self.failures is not None:
                wait = self.failures.take(client)
                if wait > 0:
                    detail = f"too many failed authentications from {client}; retry later"
                    return await send_problem(send, 429, "Too many requests", detail, _retry_after(wait))
            headers = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
            if exc.status == 503:
                headers.append((b"retry-after", b"5"))
            return await send_problem(send, exc.status, exc.title, str(exc), headers)
        if self.bucket is not None:
            wait = self.bucket.take(str(principal.token_id or client))
            if wait > 0:
                return await send_problem(
                    send, 429, "Too many requests", "rate limit exceeded; retry later", _retry_after(wait)
                )
        context = request_context.get()
        if context is not None:
            context["namespace"] = principal.namespace
        token = auth.set_current(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            auth.reset_current(token)
