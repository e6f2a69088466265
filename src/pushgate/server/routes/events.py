"""``/v1/events``: submit a batch of events; read what became of it; the app's event settings.

``POST /v1/events`` answers 202 once the accepted events and their job are
stored (:mod:`pushgate.service.events`): ``accepted`` counts them and
``rejected`` names each refused event by its index with the reason. A
malformed event is a rejection, not a 422 for the batch, so one bad event
in a thousand costs that event only; a batch of which no event was accepted
is a 422 listing the same rejections. The notifications come later, from
the worker; ``GET /v1/events/{id}`` shows the batch's decisions and the
sends it made, which ``GET /v1/sends/{id}`` follows like any send.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pushgate.errors import Backpressure
from pushgate.field_names import unknown_field
from pushgate.registry.catalog.batches import get_batch
from pushgate.registry.catalog.messages import get_event_settings
from pushgate.server.deps import AppId, ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.event_schemas import EventBatchOut, EventsAccepted, EventSettingsIn, EventsIn
from pushgate.service.catalog import update_settings
from pushgate.service.events import EventIn, EventRejection, accept_events

router = APIRouter(prefix="/v1/events", tags=["events"])
_FIELDS = frozenset({"user_id", "event_id", "timestamp", "params"})
# isinstance with a tuple: ``int | float`` written in the call builds a union object on every call.
_NUMBER = (int, float)
_SCALAR = (str, int, float)
# Epoch milliseconds in this range fall in January 1970 to March 1973, when no event happened; as
# seconds they are 2001 to 5138: a client that sent seconds (0, "no time", is left as it is).
_SECONDS_LOOKALIKE = (1_000_000_000, 100_000_000_000)


class _Bad(ValueError):
    pass


def parse_event(raw: Any) -> EventIn:
    """One event of the request body; :class:`ValueError` says which field is wrong."""
    if type(raw) is not dict and not isinstance(raw, Mapping):  # the JSON body's are dicts
        raise _Bad("an object with user_id, event_id, timestamp and params")
    for key in raw:
        if key not in _FIELDS:
            raise _Bad(f"{key}: {unknown_field(key, _FIELDS)}")
    user = raw.get("user_id")
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)  # Pushkin's integer user ids
    if not isinstance(user, str):
        raise _Bad("user_id: a string or an integer")
    event_id = raw.get("event_id")
    if not isinstance(event_id, int) or isinstance(event_id, bool):
        raise _Bad("event_id: an integer")
    return EventIn(user, event_id, _timestamp(raw.get("timestamp")), _params(raw.get("params")))


def _timestamp(value: Any) -> datetime:
    if isinstance(value, _NUMBER) and not isinstance(value, bool):
        if _SECONDS_LOOKALIKE[0] <= value < _SECONDS_LOOKALIKE[1]:
            raise _Bad(f"timestamp: {value} looks like seconds; give epoch milliseconds ({int(value * 1000)})"
                       " or ISO 8601")
        try:
            return datetime.fromtimestamp(value / 1000, UTC)  # Unix epoch milliseconds, as Pushkin sends
        except (OverflowError, OSError, ValueError):
            raise _Bad("timestamp: out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _Bad("timestamp: ISO 8601 with a time zone, or epoch milliseconds") from None
        if parsed.tzinfo is None:
            raise _Bad("timestamp: needs a time zone (e.g. 2030-01-01T09:00:00Z)")
        return parsed.astimezone(UTC)
    raise _Bad("timestamp: required (ISO 8601 with a time zone, or epoch milliseconds)")


def _params(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):
        raise _Bad("params: an object of string values")
    params: dict[str, str] = {}
    for name, item in value.items():
        if type(item) is str:
            params[str(name)] = item
            continue
        if isinstance(item, bool) or not isinstance(item, _SCALAR):
            raise _Bad(f"params.{name}: a string (numbers are taken as their decimal text)")
        params[str(name)] = item if isinstance(item, str) else str(item)
    return params


@router.post("", status_code=202, response_model=EventsAccepted, summary="Submit a batch of events",
             responses={503: {"description": "Overloaded: retry after the Retry-After header's seconds"}})
async def submit(body: EventsIn, app_id: AppId, svc: ServicesDep) -> JSONResponse:
    parsed: list[EventIn] = []
    positions: list[int] = []
    early: list[EventRejection] = []
    for index, raw in enumerate(body.events):
        try:
            parsed.append(parse_event(raw))
            positions.append(index)
        except _Bad as exc:
            early.append(EventRejection(index, str(exc)))
    accepted, batch_id, rejected = 0, None, list(early)
    if parsed:
        try:
            stored = await accept_events(svc, app_id, parsed)
        except Backpressure as exc:
            raise ApiError(
                503, "overloaded", f"the server is at capacity; retry in {exc.retry_after} s",
                headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after,
            ) from None
        accepted, batch_id = stored.result.accepted, stored.batch_id
        rejected += [EventRejection(positions[r.index], r.reason) for r in stored.result.rejected]
    rejected.sort(key=lambda r: r.index)
    listed = [{"index": r.index, "reason": r.reason} for r in rejected]
    if not accepted:
        raise _nothing_accepted(rejected, listed)
    answer = {"id": batch_id, "accepted": accepted, "rejected": listed}
    headers = {"Location": f"/v1/events/{batch_id}"} if batch_id else None
    return JSONResponse(answer, status_code=202, headers=headers)


def _nothing_accepted(rejected: list[EventRejection], listed: list[dict[str, Any]]) -> ApiError:
    """A 422 when every event was refused: a client posting one event at a time must not read a
    malformed one as taken. The body lists every rejection, as a 202's ``rejected`` does."""
    first = rejected[0]
    name, _, rest = first.reason.partition(": ")
    named = rest and name.replace("_", "").replace(".", "").isalnum()  # "params.language: …"
    field = f"events[{first.index}]" + (f".{name}" if named else "")
    message = f"no event of the batch was accepted; events[{first.index}]: {first.reason}"
    return ApiError(422, "no_event_accepted", f"{message} ({len(rejected)} rejected)", field=field,
                    rejected=listed)


@router.get("/settings", summary="The app's event-mode settings")
def settings(app_id: AppId, svc: ServicesDep) -> dict[str, Any]:
    with svc.db.session(write=False) as session:
        return get_event_settings(session, app_id)


@router.patch("/settings", summary="Change the app's event-mode settings")
async def change_settings(body: EventSettingsIn, app_id: AppId, svc: ServicesDep) -> dict[str, Any]:
    def change() -> dict[str, Any]:
        with svc.db.session() as session:
            return update_settings(session, app_id, body.model_dump(exclude_unset=True))

    return await run_in_threadpool(change)


@router.get("/{batch_id}", response_model=EventBatchOut, summary="What became of a batch of events")
def batch(batch_id: Annotated[str, Path(max_length=36)], app_id: AppId, svc: ServicesDep) -> EventBatchOut:
    view = get_batch(svc.db, app_id, batch_id)
    if view is None:
        raise ApiError(404, "not_found", "event batch not found", field="path.batch_id")
    return EventBatchOut(id=view.id, status=view.status, events=view.events, outcome=view.outcome,
                         created_at=view.created_at, finished_at=view.finished_at)
