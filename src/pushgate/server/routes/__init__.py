"""The API's routers, one module per resource, with the status codes their routes can answer."""

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
    public_events,
    public_registration,
    sdk,
    sends,
    stats,
    topics,
    users,
    webhooks,
    websdk_app,
)

# (router, the error answers documented on each of its routes in OpenAPI)
ROUTERS: tuple[tuple[APIRouter, dict[int | str, dict[str, Any]]], ...] = (
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
    (public_registration.router, BROWSER_ROUTES),
    (public_devices.router, DEVICE_ROUTES),
    (public_events.router, BROWSER_ROUTES),
    (sdk.router, {}),
    (events.router, ID_ROUTES),
    (messages.router, ID_ROUTES),
    (webhooks.router, ID_ROUTES),
)

__all__ = ["ROUTERS"]
