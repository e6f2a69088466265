"""ASGI middleware of the API: request metrics, the request-size limit, unexpected errors.

Both are plain ASGI callables rather than ``BaseHTTPMiddleware``: no extra
task per request and the body is streamed through untouched.

- :class:`MetricsMiddleware` counts requests by method, *route template*
  (``/v1/devices/{device_id}``, never the concrete path: label values must
  be a bounded set) and status, and observes latency per template.
- :class:`BodyLimitMiddleware` refuses bodies over ``max_request_bytes``
  with 413: at once when ``Content-Length`` says so, or as soon as a
  streamed (chunked) body passes the limit, before it is all read.
- :class:`InternalErrorMiddleware` turns an unhandled exception into the
  API's 500 shape and logs it itself, without SQL parameters. (An
  ``Exception`` handler would run in Starlette's outermost middleware,
  which re-raises the exception for the server to log in full.)
"""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pushgate.server.errors import RequestTooLarge, error_body, log_unexpected
from pushgate.service.metrics import Metrics

UNMATCHED_ROUTE = "<unmatched>"


def _plain_route(scope: Scope) -> str | None:
    """The path of a matched Starlette route that is not an API route (/docs,
    /openapi.json): those set only ``endpoint``, not ``route``, in the scope."""
    endpoint = scope.get("endpoint")
    app = scope.get("app")
    if endpoint is None or app is None:
        return None
    for candidate in getattr(app, "routes", ()):
        if getattr(candidate, "endpoint", None) is endpoint:
            return getattr(candidate, "path", None)
    return None


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or _plain_route(scope) or UNMATCHED_ROUTE
            self.metrics.http_requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.http_latency.labels(route).observe(time.perf_counter() - started)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await self._refuse(send)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise RequestTooLarge(self.limit)
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(error_body(
            "request_too_large", f"the request body is over the server's limit of {self.limit} bytes"
        )).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class InternalErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception as exc:
            log_unexpected(scope["method"], scope["path"], exc)
            if started:  # too late for an error answer: the connection is closed
                return
            body = json.dumps(error_body("internal_error", "internal server error")).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
