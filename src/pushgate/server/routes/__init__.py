"""The API's routers, one module per resource, with the status codes their routes can answer.

The Web SDK's browser routes (everything under ``/sdk/``) are named here by
module, not imported: an app installs them on the first request under their
paths (:class:`LazyRouter`, :mod:`pushgate.server.deferred`), as it does the
admin UI and the compatible APIs, since a server whose apps have no web
push SDK on a page never needs their modules, routes and models.
"""

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from pushgate.server.answers import ADMIN_ROUTES, APP_ROUTES, ID_ROUTES
from pushgate.server.public_auth import BROWSER_ROUTES, DEVICE_ROUTES
from pushgate.server.routes import (
    app_defaults,
    apps,
    audience,
    devices,
    events,
    health,
    messages,
    public_devices,
    sends,
    stats,
    topics,
    users,
    webhooks,
    websdk_app,
)

Answers = dict[int | str, dict[str, Any]]


@dataclass(frozen=True)
class LazyRouter:
    """The ``router`` of ``module``, installed by the first request whose path starts with one of
    ``starts`` (every path it serves must)."""

    module: str
    starts: tuple[str, ...]

    def claims(self, path: str) -> bool:
        return path.startswith(self.starts)


# (router, the error answers documented on each of its routes in OpenAPI), in the app's route order
ROUTERS: tuple[tuple[APIRouter | LazyRouter, Answers], ...] = (
    (health.router, {}),
    (apps.own, APP_ROUTES),
    (apps.admin, ADMIN_ROUTES),
    (devices.router, ID_ROUTES),
    (users.router, ID_ROUTES),
    (sends.router, ID_ROUTES),
    (topics.router, ID_ROUTES),
    (audience.router, ID_ROUTES),
    (app_defaults.router, APP_ROUTES),
    (websdk_app.router, APP_ROUTES),
    (stats.router, ID_ROUTES),
    (LazyRouter("pushgate.server.routes.public_registration", ("/sdk/v1/apps/",)), BROWSER_ROUTES),
    (public_devices.router, DEVICE_ROUTES),
    (LazyRouter("pushgate.server.routes.public_events", ("/sdk/v1/events",)), BROWSER_ROUTES),
    (LazyRouter("pushgate.server.routes.sdk", ("/sdk/pushgate", "/sdk/demo")), {}),
    (events.router, ID_ROUTES),
    (messages.router, ID_ROUTES),
    (webhooks.router, ID_ROUTES),
)

__all__ = ["ROUTERS", "Answers", "LazyRouter"]
