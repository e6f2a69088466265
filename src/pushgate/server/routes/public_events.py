"""``POST /sdk/v1/events``: what service workers report — notifications displayed and clicked.

``pushgate-sw.js`` batches its reports (best effort: a report lost with a
stopped worker is not retried) and sends them here, to the pushgate host
that served it, never to a URL taken from a payload. A report names sends
and the worker's own subscription endpoint; events count once per (send,
kind, subscription) and only for sends of apps whose allowed origins
include the reporting page's (:mod:`pushgate.registry.engagement`). The
answer says how many were new, never which sends exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from pushgate.registry.engagement import MAX_EVENTS_PER_REPORT, EventKind, ReportedEvent, record_events
from pushgate.registry.websdk import get_web_sdk, origin_allowed
from pushgate.server.deps import ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.public_auth import cors_headers, limit_public

router = APIRouter(prefix="/sdk/v1", tags=["web sdk: browsers"])


class EventIn(BaseModel):
    model_config = {"extra": "forbid"}

    send: Annotated[str, Field(min_length=1, max_length=36, description="The payload's pushgate.send")]
    event: EventKind
    endpoint: Annotated[str, Field(min_length=1, max_length=2048, description="The reporting subscription")]
    action: Annotated[str | None, Field(None, max_length=100, description="The action button clicked")] = None


class EventsIn(BaseModel):
    model_config = {"extra": "forbid"}

    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_EVENTS_PER_REPORT)]


class EventsOut(BaseModel):
    recorded: int = Field(description="Events counted now (a repeated report counts 0)")


@router.post("/events", response_model=EventsOut, status_code=202,
             summary="Report notifications displayed or clicked (public)")
def report(body: EventsIn, request: Request, response: Response, svc: ServicesDep) -> EventsOut:
    origin = request.headers.get("origin")
    if origin is None:
        raise ApiError(403, "origin_not_allowed", "reports come from a service worker, with an Origin header",
                       field="header.origin")
    limit_public(request, response, svc, {})
    events = [ReportedEvent(e.send, e.event, e.endpoint, e.action) for e in body.events]
    consenting: set[int] = set()
    with svc.db.session() as session:

        def allowed(app_id: int) -> bool:
            config = get_web_sdk(session, app_id)
            if config is not None and origin_allowed(config, origin):
                consenting.add(app_id)
                return True
            return False

        recorded, _apps = record_events(session, events, app_allowed=allowed)
    if consenting:  # the page may read the answer only when one of the apps allows its origin
        response.headers.update(cors_headers(origin))
    return EventsOut(recorded=recorded)
