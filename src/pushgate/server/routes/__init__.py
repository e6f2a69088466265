"""The API's routers, one module per resource, with the status codes their routes can answer."""

from typing import Any

from fastapi import APIRouter

from pushgate.server.answers import ADMIN_ROUTES, APP_ROUTES, ID_ROUTES
from pushgate.server.routes import apps, devices, events, health, messages, sends, topics, users

# (router, the error answers documented on each of its routes in OpenAPI)
ROUTERS: tuple[tuple[APIRouter, dict[int | str, dict[str, Any]]], ...] = (
    (health.router, {}),
    (apps.own, APP_ROUTES),
    (apps.admin, ADMIN_ROUTES),
    (devices.router, ID_ROUTES),
    (users.router, ID_ROUTES),
    (sends.router, ID_ROUTES),
    (topics.router, ID_ROUTES),
    (events.router, ID_ROUTES),
    (messages.router, ID_ROUTES),
)

__all__ = ["ROUTERS"]
