"""The status codes each route can answer, documented in the OpenAPI schema.

Every error has the one shape of :mod:`pushgate.server.errors`; these are
the answers that do not depend on the route (authentication, the request
checks every route goes through) plus those of routes with an id in their
path. Routes add their own (409, 413, 503 of ``POST /v1/sends``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, validation_error")
    message: str
    field: str | None = Field(None, description="Where the problem is: body.tags[1], path.device_id, ...")


class ErrorOut(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "The path or query is not valid UTF-8 once percent-decoded",
    401: "No valid API key (or admin token)",
    403: "Admin routes: the admin API is disabled, or an app key was used",
    404: "No such resource for this app (another app's answers the same)",
    413: "The request body is over the server's limit",
    415: "The body is not JSON (send Content-Type: application/json)",
    422: "A field is invalid: error.field names it",
    429: "Over the rate limit: Retry-After says when to retry",
}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the given status codes, each with the error shape."""
    return {code: {"description": _DESCRIPTIONS[code], "model": ErrorOut} for code in codes}


REQUEST = (400, 413, 415, 422)  # the checks every request with parameters or a body goes through
APP_ROUTES = answers(401, *REQUEST)
ID_ROUTES = answers(401, 404, *REQUEST)
ADMIN_ROUTES = answers(401, 403, 404, *REQUEST)

__all__ = ["ADMIN_ROUTES", "APP_ROUTES", "ID_ROUTES", "ErrorOut", "answers"]
