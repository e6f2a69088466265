"""Request bodies are JSON: read them as JSON whatever form type a client gave them.

``curl -d '{...}'`` sends ``Content-Type: application/x-www-form-urlencoded``
unless told otherwise, and FastAPI then hands the route the raw bytes
("Input should be a valid dictionary…"), which says nothing about the
real problem. The API has no form routes (the admin UI under ``/admin``
posts real forms and is left alone), so a body sent as a form or as
plain text, or without a type, is read as JSON (and answered 422 naming
``body`` if it is not JSON); any other non-JSON type is 415 naming the
``Content-Type`` header.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from pushgate.server.errors import error_body

_READ_AS_JSON = frozenset({b"application/x-www-form-urlencoded", b"text/plain"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Pushkin's protobuf routes (server/routes/pushkin.py) take serialized protobuf under any type.
PROTOBUF_PATHS = ("/post_notification_proto", "/post_events_proto")


class JsonBodyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in _BODY_METHODS or _admin_ui(scope)
                or scope["path"].endswith(PROTOBUF_PATHS)):
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers", ()))
        content_type = next((value for name, value in headers if name == b"content-type"), None)
        media = content_type.split(b";")[0].strip().lower() if content_type is not None else b""
        if media == b"application/json" or media.endswith(b"+json"):
            await self.app(scope, receive, send)
            return
        if not media or media in _READ_AS_JSON:
            headers = [(n, v) for n, v in headers if n != b"content-type"]
            headers.append((b"content-type", b"application/json"))
            await self.app({**scope, "headers": headers}, receive, send)
            return
        if not _has_body(headers):  # e.g. POST …/cancel: no body to misread
            await self.app(scope, receive, send)
            return
        body = json.dumps(error_body(
            "unsupported_media_type", "request bodies are JSON: send Content-Type: application/json",
            "header.content-type",
        )).encode()
        await send({"type": "http.response.start", "status": 415,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _admin_ui(scope: Scope) -> bool:
    """The admin UI's pages post HTML forms (pushgate.admin), not JSON."""
    path: str = scope.get("path", "")
    return path == "/admin" or path.startswith("/admin/")


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


__all__ = ["JsonBodyMiddleware"]
