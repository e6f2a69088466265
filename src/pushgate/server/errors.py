"""One error shape for every answer that is not a success.

Every 4xx and 5xx body is::

    {"error": {"code": "validation_error", "message": "...", "field": "body.notification.title"}}

``code`` is a stable machine-readable string, ``message`` is for people and
``field`` (when one is at fault) names it the way the request spelled it:
``body.…`` for the JSON body, ``query.…`` and ``path.…`` for the URL.
Request validation keeps FastAPI's 422 but lists every problem under
``errors``, so a client fixes them all at once; an unknown field's message
names the field the client probably meant, or the object it belongs under
(:mod:`pushgate.server.body_fields`), and a body that is not JSON says what
the parser found and at which character.

Nothing here echoes the offending input: a credentials body that fails
validation must not come back in the error (pydantic's ``input`` and
``ctx`` are dropped), and unexpected exceptions answer a generic 500 with
the details only in the server log — minus the values a database error
carries, which can be credentials (:func:`log_unexpected`,
:mod:`pushgate.registry.safe_errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pushgate.errors import InvalidNotification, PayloadTooLarge
from pushgate.registry import IdempotencyConflict, NotFound, ValidationError
from pushgate.registry.safe_errors import log_failure
from pushgate.server.body_fields import unknown_hint

logger = logging.getLogger("pushgate.server")

# Stable codes for the statuses Starlette itself raises (unknown route, wrong method, ...).
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ApiError(Exception):
    """An answer other than success, raised anywhere a route runs."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        self.extra = extra


class RequestTooLarge(StarletteHTTPException):
    """The request body is over ``settings.max_request_bytes``.

    An HTTPException so FastAPI's body reader lets it through unchanged
    (it turns other exceptions raised while reading into a 400).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the server's limit of {limit} bytes")


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field, **extra), status_code=status, headers=headers)


def field_path(location: tuple[int | str, ...] | list[int | str]) -> str:
    """("body", "notification", "title") → "body.notification.title"; list indexes as [n]."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def registry_field(request: Request, field: str) -> str:
    """A registry error's field, located in the request: the body for writes, else the query."""
    return f"{'body' if request.method in _BODY_METHODS else 'query'}.{field}"


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers, **exc.extra
    )


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = validation_problems(exc.errors(), lambda location: unknown_hint(request, location))
    message, field = summarize(problems)
    return error_response(422, "validation_error", message, field=field, errors=problems)


def validation_problems(
    errors: Iterable[Mapping[str, Any]],
    hint: Callable[[tuple[int | str, ...]], str],
    *,
    prefix: tuple[int | str, ...] = (),
) -> list[dict[str, str]]:
    """Pydantic's errors as the API lists them: field, message, type — never the input.

    ``hint`` words what follows an unknown field's name (its did-you-mean, or where it goes:
    :func:`pushgate.field_names.unknown_field_hint`);
    ``prefix`` places the locations (``POST /v1/sends/batch`` validates each item on its
    own, under ``body.sends[i]``, and answers the same problems ``POST /v1/sends`` would).
    """
    problems = []
    for err in errors:
        location = tuple(err.get("loc", ()))
        kind, message = str(err.get("type", "invalid")), str(err.get("msg", "invalid"))
        if kind == "json_invalid":
            message = _json_problem(err, location)
            location = ("body",)
        elif kind == "extra_forbidden" and location:
            name = str(location[-1])
            message = f"unknown field {name!r}{hint(location)}"
        problems.append({"field": field_path(prefix + location), "message": message, "type": kind})
    return problems


def summarize(problems: list[dict[str, str]]) -> tuple[str, str]:
    """The message and field of a 422 listing ``problems``: the first, and how many there are."""
    first = problems[0] if problems else {"field": "body", "message": "invalid request"}
    message = first["message"]
    if len(problems) > 1:
        message = f"{len(problems)} problems; the first: {message}"
    return message, first["field"]


def _json_problem(err: Mapping[str, Any], location: tuple[int | str, ...]) -> str:
    """What the JSON parser found and where: its own words and the character position
    (FastAPI puts it after "body" in the location), never the text around it."""
    reason = err.get("ctx", {}).get("error")
    where = f" at character {location[1]}" if len(location) > 1 and isinstance(location[1], int) else ""
    return f"the body is not valid JSON: {reason}{where}" if reason else "the body is not valid JSON"


async def _registry_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return error_response(422, "validation_error", exc.message, field=registry_field(request, exc.field))


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFound)
    return error_response(404, "not_found", f"{exc.kind} not found")


async def _idempotency_conflict(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IdempotencyConflict)
    return error_response(
        409, "idempotency_conflict",
        "this Idempotency-Key was used for a different request; use a new key for a new send",
        field="header.idempotency-key",
    )


async def _payload_too_large(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PayloadTooLarge)
    return error_response(
        413, "payload_too_large",
        f"the notification is {exc.size} bytes for {exc.provider}; its limit is {exc.limit}",
        field="body.notification", provider=exc.provider, size=exc.size, limit=exc.limit,
    )


async def _invalid_notification(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidNotification)
    field = f"body.notification.{exc.field}" if exc.field else "body.notification"
    if exc.provider is None:
        return error_response(422, "invalid_notification", str(exc), field=field)
    return error_response(422, "invalid_notification", f"{exc.provider}: {exc}", field=field,
                          provider=exc.provider)


async def _http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


def install_queue_errors(app: FastAPI) -> None:
    """With the Redis queue: its client's errors are a 503 (imported only then: the redis
    package loads cryptography, which an idle server on the SQL queue never needs)."""
    from redis.exceptions import RedisError

    app.add_exception_handler(RedisError, _queue_unavailable)


def log_unexpected(method: str, path: str, exc: BaseException) -> None:
    """Log an unhandled error for the operator; never with the SQL parameters it may carry."""
    log_failure(logger, f"unhandled error on {method} {path}", exc)


# How long a client should wait before retrying while the queue store does not answer.
QUEUE_UNAVAILABLE_RETRY_AFTER = 5


async def _queue_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The queue's store (Redis) did not answer before anything was stored: the outbox
    # makes a stored send durable without it, so this only happens ahead of the write
    # (admission reads the queue's depth). The client retries; nothing is half-done.
    log_failure(logger, f"the job queue did not answer on {request.method} {request.url.path}", exc)
    return error_response(
        503, "queue_unavailable", "the job queue is not answering; nothing was stored, retry later",
        headers={"Retry-After": str(QUEUE_UNAVAILABLE_RETRY_AFTER)},
    )


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _registry_validation)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(IdempotencyConflict, _idempotency_conflict)
    app.add_exception_handler(PayloadTooLarge, _payload_too_large)
    app.add_exception_handler(InvalidNotification, _invalid_notification)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    # Anything else: InternalErrorMiddleware (a 500 of this shape, logged without secrets).
