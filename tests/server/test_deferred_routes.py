"""The admin UI, Pushkin, Pushpad and Web SDK routes are installed by their first request, in their own
place.

What must not change: which requests they answer and how (the first one
included), the route order, and the OpenAPI document. What changes: an app
that has not been asked for them holds placeholders instead
(:mod:`pushgate.server.deferred`).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from pushgate.queue import SqlQueue
from pushgate.registry import Database
from pushgate.server import create_app
from pushgate.server.deferred import DeferredRoutes, install_deferred
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from tests.server.api_helpers import ADMIN_TOKEN


def _app(database: Database, **overrides: object) -> FastAPI:
    settings = Settings.model_validate({"admin_token": ADMIN_TOKEN, **overrides})
    return create_app(settings, database=database, queue=SqlQueue(database), metrics=Metrics())


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pushgate.test")


def _deferred(app: FastAPI) -> list[DeferredRoutes]:
    return [route for route in app.routes if isinstance(route, DeferredRoutes)]


def _routes(app: FastAPI) -> list[tuple[str | None, str | None, list[str]]]:
    return [(c.path, c.name, sorted(c.methods or ())) for c in iter_route_contexts(app.routes)]


async def test_other_requests_leave_the_optional_routes_uninstalled(database: Database) -> None:
    app = _app(database)
    async with _client(app) as client:
        # the Web SDK's registration, events and files, the admin UI, Pushpad, Pushkin settings, Pushkin
        assert len(_deferred(app)) == 7
        assert (await client.get("/ready")).status_code == 200
        assert (await client.get("/v1/no-such-thing")).status_code == 404
        assert (await client.get("/v1/app")).status_code == 401
        assert (await client.post("/v1/devices", json={})).status_code == 401
        assert (await client.get("/v1/public/apps/pk_x/me/devices")).status_code in (401, 404)
        assert len(_deferred(app)) == 7


async def test_the_first_request_of_each_optional_api_is_answered(database: Database) -> None:
    app = _app(database)
    async with _client(app) as client:
        redirect = await client.get("/admin")
        assert (redirect.status_code, redirect.headers["location"]) == (307, "/admin/")
        assert (await client.get("/admin/")).status_code == 303  # to the sign-in page
        assert (await client.get("/admin/static/admin.css")).status_code == 200
        assert (await client.get("/pushpad/api/v1/projects")).status_code == 401
        assert (await client.get("/v1/pushkin")).status_code == 401
        unreadable = await client.post("/app/no-such-secret/post_notification_json", content=b"{}")
        assert unreadable.status_code == 404  # an unknown route secret, as before
        assert (await client.get("/get_request_queue")).status_code == 401
        assert (await client.put("/get_request_queue")).status_code == 405
        script = await client.get("/sdk/pushgate.js")
        assert (script.status_code, script.headers["content-type"].split(";")[0]) == (200, "text/javascript")
        assert (await client.get("/sdk/v1/apps/pk_nobody/vapid")).status_code == 404
        assert (await client.post("/sdk/v1/events", content=b"{}")).status_code == 422
        assert _deferred(app) == []


async def test_routes_installed_by_requests_take_their_place_in_order_and_openapi(database: Database) -> None:
    by_openapi, by_requests = _app(database), _app(database)
    async with _client(by_openapi) as first, _client(by_requests) as second:
        for path in ("/get_request_queue", "/v1/pushkin", "/pushpad/api/v1/projects", "/admin", "/sdk/demo",
                     "/sdk/v1/events", "/sdk/v1/apps/pk_x/vapid"):
            await second.get(path)  # installed by requests, in the reverse order of their places
        assert _deferred(by_requests) == []
        documented = (await first.get("/openapi.json")).json()  # installs them all first
        assert _deferred(by_openapi) == []
        assert (await second.get("/openapi.json")).json() == documented
        assert "/post_notification_json" in documented["paths"]
        assert "/pushpad/api/v1/projects" in documented["paths"]
        assert "/sdk/v1/apps/{public_id}/subscriptions" in documented["paths"]
        assert _routes(by_openapi) == _routes(by_requests)


def test_each_group_claims_every_path_it_installs(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'claims.db'}")
    for prefix in ("", "/pushkin"):
        app = _app(database, pushkin_prefix=prefix, pushpad_api_prefix="/compat/pushpad/")
        groups = _deferred(app)
        install_deferred(app)
        for group in groups:
            installed = list(iter_route_contexts(group.installed()))
            assert installed
            for route in installed:
                assert route.path is not None
                assert group.claims(route.path), route.path
                assert group.claims(route.path + "/"), route.path  # what a slash redirect tries
    database.dispose()
