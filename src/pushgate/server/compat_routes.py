"""The Pushkin- and Pushpad-compatible routes and the Web SDK's, installed on their first request.

Their modules, routes and pydantic models (and, for Pushkin, the protobuf
readers behind them) are only needed once a Pushkin or Pushpad client
calls; until then :mod:`pushgate.server.deferred` holds their place in the
app, so the route order and the OpenAPI document stay as they were.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from pushgate.server.answers import ADMIN_ROUTES, APP_ROUTES, ID_ROUTES
from pushgate.server.deferred import Claims, defer_routes
from pushgate.server.routes import Answers, LazyRouter

PUSHKIN_SETTINGS_PREFIX = "/v1/pushkin"  # pushgate.server.routes.pushkin.settings_router
# The first path segment (after pushkin_prefix) of every Pushkin route: post_notification_*,
# post_events_*, get_*_queue, and the route-secret form app/<secret>/… (routes.pushkin.SECRET_SEGMENT).
PUSHKIN_ROUTE_STARTS = ("post_", "get_")
PUSHKIN_SECRET_SEGMENT = "app"


def pushkin_claims(prefix: str) -> Claims:
    """True for a path that may be one of Pushkin's routes under ``prefix``."""

    def claims(path: str) -> bool:
        if not path.startswith(prefix + "/"):
            return False
        first = path[len(prefix) + 1:].partition("/")[0]
        return first.startswith(PUSHKIN_ROUTE_STARTS) or first == PUSHKIN_SECRET_SEGMENT

    return claims


def defer_pushkin_settings(app: FastAPI) -> None:
    """``/v1/pushkin/…``: an app's Pushkin settings (API key), with the native API's error answers."""

    def install(app: FastAPI) -> None:
        from pushgate.server.routes.pushkin import settings_router

        app.include_router(settings_router, responses=ID_ROUTES)

    defer_routes(app, lambda path: path.startswith(PUSHKIN_SETTINGS_PREFIX), install)


def defer_pushkin(app: FastAPI, prefix: str) -> None:
    """Pushkin's own routes under ``prefix`` (docs/pushkin.md)."""

    def install(app: FastAPI) -> None:
        from pushgate.server.routes.pushkin import pushkin_router

        app.include_router(pushkin_router(prefix), responses=APP_ROUTES)

    defer_routes(app, pushkin_claims(prefix), install)


def defer_pushpad(app: FastAPI, prefix: str) -> None:
    """The Pushpad REST API under ``prefix`` (docs/pushpad.md)."""
    base = prefix.rstrip("/")  # as pushgate.server.pushpad.pushpad_router mounts it

    def install(app: FastAPI) -> None:
        from pushgate.server.pushpad import pushpad_router

        app.include_router(pushpad_router(prefix), responses=ADMIN_ROUTES)

    defer_routes(app, lambda path: path.startswith(base), install)


def defer_router(app: FastAPI, lazy: LazyRouter, answers: Answers) -> None:
    """A router of :data:`pushgate.server.routes.ROUTERS` named by its module (the Web SDK's)."""

    def install(app: FastAPI) -> None:
        app.include_router(importlib.import_module(lazy.module).router, responses=answers)

    defer_routes(app, lazy.claims, install)


__all__ = ["defer_pushkin", "defer_pushkin_settings", "defer_pushpad", "defer_router", "pushkin_claims"]
