"""``…/audience.json``: the live audience count under the compose form's tag expression.

Read-only and behind the same session as every admin page (a GET, like
``status.json``: nothing changes, so no CSRF token is involved). The count
is :func:`pushgate.registry.audience.measure_audience` over the target the
compose form would send — the query ``POST /v1/audience`` answers with, and
the conditions fan-out uses (docs/targeting.md) — so the number shown is
what a send now reaches. A malformed expression answers 422 with the
parser's message and the 0-based character position it stopped at.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from pushgate.admin.auth import SignedIn
from pushgate.admin.errors import PREFIX
from pushgate.admin.targets import tags_of_form, target_from_form
from pushgate.registry import Target, ValidationError
from pushgate.registry.audience import measure_audience
from pushgate.targeting import ParseError, parse_expressions

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_HEADERS = {"Cache-Control": "no-store"}


def _refused(field: str, message: str, position: int | None = None) -> Response:
    body: dict[str, Any] = {"field": field, "error": f"{field}: {message}", "position": position}
    return JSONResponse(body, status_code=422, headers=_HEADERS)


@router.get("/apps/{app_id}/audience.json")
def audience_count(
    app_id: int,
    admin: SignedIn,
    tags: Annotated[str, Query(max_length=4000)] = "",
    providers: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Devices and users the compose form's tag target reaches now: ``{"devices": n, "users": m}``."""
    admin.require_app(app_id)
    fields = {"audience": "tags", "audience_values": tags}
    try:
        target = target_from_form(lambda name: fields.get(name, ""), providers or [])
    except ValidationError as exc:
        return _refused(exc.field, exc.message, _position(tags))
    with admin.services.db.session(write=False) as session:
        counted = measure_audience(session, app_id, Target.parse(target))
    return JSONResponse({"devices": counted.devices, "users": counted.users}, headers=_HEADERS)


def _position(raw: str) -> int | None:
    """Where the parser stopped in the typed text, for the page to point at (None: not a parse error)."""
    tags = tags_of_form(raw)
    if not tags:
        return None
    try:
        parse_expressions(tags)
    except ParseError as exc:
        return exc.position
    return None
