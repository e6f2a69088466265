"""Pushkin's HTTP API, served by ``pushgate serve`` (docs/pushkin.md).

The routes and bodies are Pushkin's (github.com/Nordeus/pushkin,
``pushkin/requesthandlers``): ``POST /post_notification_json``,
``/post_notification_proto``, ``/post_events_json``, ``/post_events_proto``;
``GET /get_request_queue``, ``/get_apn_sender_queue``,
``/get_gcm_sender_queue`` answering a plain integer. They sit under
``settings.pushkin_prefix`` ("" by default: at the root, where Pushkin's
clients post).

**Which app.** A Pushkin server served one application, so its clients send
no credentials. pushgate serves many, and takes the app from either:

- the app's API key, in ``Authorization: Bearer`` or ``X-API-Key``, on
  ``<prefix>/post_notification_json`` and the rest — for clients that can
  add a header; or
- a **route secret** in the path, ``<prefix>/app/<secret>/post_notification_json``
  — for clients that can only be given a base URL. The secret is made with
  ``POST /v1/pushkin/route-secret`` (shown once, stored hashed), opens the
  Pushkin routes only, and is rotated or revoked on its own
  (:mod:`pushgate.registry.pushkin_apps`). An unknown secret is 404.

**Answers.** 200 for a readable body, as Pushkin, with a JSON body Pushkin's
clients can ignore: ``{"accepted", "rejected": [{"index", "field",
"reason"}], "sends": [{"index", "id", "targeted"}]}`` — Pushkin dropped bad
items silently. 400 for an empty body or one that does not parse (as
Pushkin). 503 with ``Retry-After`` when the queue is full, with nothing
stored (Pushkin's 503 had no Retry-After, and its sender queues dropped
silently).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from pushgate.errors import Backpressure
from pushgate.pushkin import requests as pushkin_requests
from pushgate.pushkin.requests import BadBody, Parsed, PushkinEvent, PushkinNotification
from pushgate.registry import ValidationError
from pushgate.registry.pushkin_apps import (
    app_for_route_secret,
    create_route_secret,
    get_pushkin_settings,
    revoke_route_secret,
    set_languages,
)
from pushgate.server.deps import AppId, ServicesDep, current_app_id
from pushgate.server.errors import ApiError
from pushgate.service.components import Services
from pushgate.service.pushkin import BatchAnswer, queue_depths, submit_events, submit_notifications

SECRET_SEGMENT = "app"  # <prefix>/app/<route secret>/post_notification_json
RouteSecret = Annotated[str, Path(min_length=1, max_length=100, description="The app's Pushkin route secret")]


def _secret_app(route_secret: RouteSecret, request: Request) -> int:
    svc: Services = request.app.state.services
    with svc.db.session(write=False) as session:
        app_id = app_for_route_secret(session, route_secret)
    if app_id is None:
        raise ApiError(404, "not_found", "no app has this Pushkin route secret", field="path.route_secret")
    return app_id


def _overloaded(exc: Backpressure) -> ApiError:
    return ApiError(503, "overloaded", f"the server is at capacity; retry in {exc.retry_after} s",
                    headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after)


def _bad_body(exc: BadBody) -> ApiError:
    field = "body" if exc.field == "body" else f"body.{exc.field}"
    return ApiError(400, "bad_request", exc.message, field=field)


def _answer(svc: Services, answer: BatchAnswer) -> JSONResponse:
    if svc.on_enqueue is not None:
        for queue in sorted(answer.queues):
            svc.on_enqueue(queue)
    if answer.accepted:
        svc.metrics.sends.inc(len(answer.accepted))
    return JSONResponse(answer.to_json(), status_code=200)


async def _notifications(
    request: Request, svc: Services, app_id: int, reader: Callable[[bytes], Parsed[PushkinNotification]],
) -> JSONResponse:
    try:
        parsed = await run_in_threadpool(reader, await request.body())
    except BadBody as exc:
        raise _bad_body(exc) from None
    try:
        answer = await run_in_threadpool(
            submit_notifications, svc.db, svc.queue, svc.settings, app_id, parsed
        )
    except Backpressure as exc:
        raise _overloaded(exc) from None
    return _answer(svc, answer)


def _notification_route(
    auth: Callable[..., int], reader: Callable[[bytes], Parsed[PushkinNotification]],
) -> Callable[..., Awaitable[JSONResponse]]:
    App = Annotated[int, Depends(auth)]

    async def post_notifications(request: Request, svc: ServicesDep, app_id: App) -> JSONResponse:
        return await _notifications(request, svc, app_id, reader)

    return post_notifications


def _event_route(
    auth: Callable[..., int], reader: Callable[[bytes], Parsed[PushkinEvent]],
) -> Callable[..., Awaitable[JSONResponse]]:
    App = Annotated[int, Depends(auth)]

    async def post_events(request: Request, svc: ServicesDep, app_id: App) -> JSONResponse:
        try:
            parsed = await run_in_threadpool(reader, await request.body())
        except BadBody as exc:
            raise _bad_body(exc) from None
        try:
            answer = await submit_events(svc, app_id, parsed)
        except Backpressure as exc:
            raise _overloaded(exc) from None
        except ValidationError as exc:  # more events than one batch takes
            raise ApiError(400, "bad_request", exc.message, field="body.events") from None
        return JSONResponse(answer.to_json(), status_code=200)

    return post_events


def _depth_route(auth: Callable[..., int], name: str) -> Callable[..., PlainTextResponse]:
    App = Annotated[int, Depends(auth)]

    def get_depth(svc: ServicesDep, app_id: App) -> PlainTextResponse:
        return PlainTextResponse(str(queue_depths(svc.queue)[name]))

    return get_depth


def pushkin_router(prefix: str) -> APIRouter:
    """Pushkin's routes under ``prefix``, once with header authentication and once with a route secret."""
    router = APIRouter(prefix=prefix, tags=["pushkin"])
    for base, auth in (("", current_app_id), (f"/{SECRET_SEGMENT}/{{route_secret}}", _secret_app)):
        _add_routes(router, base, auth)
    return router


def _add_routes(router: APIRouter, base: str, auth: Callable[..., int]) -> None:
    unknown: dict[int | str, dict[str, Any]] = (
        {404: {"description": "No app has this route secret"}} if base else {}
    )
    posted: dict[int | str, dict[str, Any]] = {
        400: {"description": "Empty or unreadable body"},
        503: {"description": "Overloaded: nothing stored; retry after Retry-After"}, **unknown,
    }
    readers = {"json": pushkin_requests.notifications_from_json,
               "proto": pushkin_requests.notifications_from_proto}
    for kind, reader in readers.items():
        router.add_api_route(
            f"{base}/post_notification_{kind}", _notification_route(auth, reader), methods=["POST"],
            summary=f"Pushkin: send notifications ({kind})",
            description="Each notification is a send to the devices of the user whose id is its login_id.",
            responses=posted,
        )
    events = {"json": pushkin_requests.events_from_json, "proto": pushkin_requests.events_from_proto}
    for kind, event_reader in events.items():
        router.add_api_route(
            f"{base}/post_events_{kind}", _event_route(auth, event_reader), methods=["POST"],
            summary=f"Pushkin: submit events ({kind})",
            description="The events go to the event service (/v1/events); the login event registers "
                        "the user's device with Pushkin's platform and language ids translated.",
            responses=posted,
        )
    for name in ("request", "apn_sender", "gcm_sender"):
        router.add_api_route(
            f"{base}/get_{name}_queue", _depth_route(auth, name), methods=["GET"],
            response_class=PlainTextResponse, responses=unknown,
            summary=f"Pushkin monitoring: the {name.replace('_', ' ')} queue's depth (a plain integer)",
        )


# -- managing an app's Pushkin settings (API key) ----------------------------------------------

settings_router = APIRouter(prefix="/v1/pushkin", tags=["pushkin"])


class PushkinSettingsOut(BaseModel):
    languages: dict[str, str] = Field(description="Pushkin languageId → locale")
    has_route_secret: bool


class LanguagesIn(BaseModel):
    languages: dict[str, str] = Field(description='Pushkin languageId → locale, e.g. {"1": "en", "2": "de"}')


class RouteSecretOut(BaseModel):
    route_secret: str = Field(description="Shown once")
    path: str = Field(description="The Pushkin routes' base path for this app")


@settings_router.get("", response_model=PushkinSettingsOut, summary="The app's Pushkin settings")
def get_settings(app_id: AppId, svc: ServicesDep) -> PushkinSettingsOut:
    with svc.db.session(write=False) as session:
        found = get_pushkin_settings(session, app_id)
    return PushkinSettingsOut(languages=found.languages, has_route_secret=found.has_route_secret)


@settings_router.put("/languages", response_model=PushkinSettingsOut,
                     summary="Replace the languageId → locale table")
def put_languages(body: LanguagesIn, app_id: AppId, svc: ServicesDep) -> PushkinSettingsOut:
    with svc.db.session() as session:
        found = set_languages(session, app_id, body.languages)
    return PushkinSettingsOut(languages=found.languages, has_route_secret=found.has_route_secret)


@settings_router.post("/route-secret", response_model=RouteSecretOut, status_code=201,
                      summary="Make (or replace) the app's Pushkin route secret")
def post_route_secret(app_id: AppId, svc: ServicesDep) -> RouteSecretOut:
    with svc.db.session() as session:
        secret = create_route_secret(session, app_id)
    return RouteSecretOut(route_secret=secret,
                          path=f"{svc.settings.pushkin_prefix}/{SECRET_SEGMENT}/{secret}")


@settings_router.delete("/route-secret", status_code=204, summary="Revoke the app's Pushkin route secret")
def delete_route_secret(app_id: AppId, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        if not revoke_route_secret(session, app_id):
            raise ApiError(404, "not_found", "the app has no Pushkin route secret")
    return Response(status_code=204)


__all__ = ["SECRET_SEGMENT", "pushkin_router", "settings_router"]
