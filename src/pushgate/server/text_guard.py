"""Refuse control characters anywhere in a request, naming where they are (422),
and paths or queries that are not UTF-8 (400).

A NUL in a user id, a tag or a notification's title used to reach
PostgreSQL, which cannot store it (DataError: a 500), and the log. No
field of the API takes control characters other than tab and line breaks,
so every path parameter, query parameter and JSON string is checked once
here, before any route runs; ids and tags are stricter still
(:mod:`pushgate.registry.text`).

The body is scanned as bytes first: a JSON string can only carry a control
character escaped (``\\u0000``, ``\\b``, ``\\f``), so a body without such an
escape — nearly all of them — is not parsed a second time.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request

from pushgate.registry.text import has_control_characters
from pushgate.server.errors import ApiError, field_path

_ESCAPED_CONTROL = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\[bf]")
_MESSAGE = "must not contain control characters (other than tab and line breaks in text)"


async def reject_control_characters(request: Request) -> None:
    _check_utf8(request)
    for name, value in request.path_params.items():
        if isinstance(value, str) and has_control_characters(value, in_text=True):
            raise ApiError(422, "validation_error", _MESSAGE, field=f"path.{name}")
    for name, value in request.query_params.multi_items():
        if has_control_characters(value, in_text=True) or has_control_characters(name, in_text=True):
            raise ApiError(422, "validation_error", _MESSAGE, field=f"query.{name}")
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = await request.body()  # cached by the request: the route reads the same bytes
    if not _ESCAPED_CONTROL.search(body):
        return
    try:
        document = json.loads(body)
    except ValueError:
        return  # not JSON: the route's own validation answers
    where = _find(document, ("body",))
    if where is not None:
        raise ApiError(422, "validation_error", _MESSAGE, field=field_path(where))


def _check_utf8(request: Request) -> None:
    """400 for a path or query that is not UTF-8 once percent-decoded.

    The server decodes them with replacement characters, so ``/v1/users/%FF%FE``
    and ``/v1/users/%FE%FF`` would both name the user "\ufffd\ufffd".
    """
    raw_path = request.scope.get("raw_path")
    if isinstance(raw_path, bytes) and not _is_utf8(unquote_to_bytes(raw_path)):
        raise ApiError(400, "invalid_path", "the path is not valid UTF-8 once percent-decoded", field="path")
    query = request.scope.get("query_string", b"")
    if query and not _is_utf8(unquote_to_bytes(query.replace(b"+", b" "))):
        raise ApiError(400, "invalid_query", "the query is not valid UTF-8 once percent-decoded",
                       field="query")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _find(value: Any, at: tuple[int | str, ...]) -> tuple[int | str, ...] | None:
    """The location of the first string (or object key) holding a control character."""
    if isinstance(value, str):
        return at if has_control_characters(value, in_text=True) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if has_control_characters(key, in_text=True):
                return (*at, key)
            found = _find(item, (*at, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find(item, (*at, index))
            if found is not None:
                return found
    return None


__all__ = ["reject_control_characters"]
