"""Routes installed on first use, at the place in the app they would have had.

The optional surfaces of the API — the admin UI, the Pushkin- and
Pushpad-compatible routes — are most of a megabyte each of modules,
FastAPI routes and pydantic models, and an idle server that nobody signs
in to and no Pushkin or Pushpad client calls never needs them (bench
scenario 6, idle RSS). :func:`defer_routes` puts a :class:`DeferredRoutes`
where the routes would be; the first request whose path they could serve
(``claims``, a superset of their paths) installs them in its place, so
route order, answers and the 404/405 and slash-redirect behaviour are the
same as if they had been there from the start. ``app.openapi()`` and
``url_path_for`` install every deferred group first, so the OpenAPI
document and its order are unchanged.

Installation runs on the event loop (route matching is synchronous there)
and takes the app's own ``include_router`` path, so the included routes get
the app's dependencies and error answers exactly as at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

Claims = Callable[[str], bool]  # True for every path the deferred routes match (and maybe more)
Install = Callable[[FastAPI], None]  # adds the routes to the app (they are appended at the end)


class DeferredRoutes(BaseRoute):
    """Stands in the app's routes for the routes ``install`` adds, until a request may need them."""

    def __init__(self, app: FastAPI, claims: Claims, install: Install) -> None:
        self._app = app
        self.claims = claims
        self._install = install
        self._installed: list[BaseRoute] | None = None
        self._lock = threading.Lock()

    def installed(self) -> list[BaseRoute]:
        """Install the routes (once) where this placeholder stands, and return them."""
        with self._lock:
            if self._installed is None:
                routes = self._app.router.routes
                before = len(routes)
                self._install(self._app)  # include_router, mount, add_api_route: appended at the end
                added = routes[before:]
                if not added:
                    raise RuntimeError("a deferred route group installed no routes")
                del routes[before:]
                index = next(i for i, route in enumerate(routes) if route is self)
                routes[index:index + 1] = added
                self._installed = added
            return self._installed

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket") or not self.claims(_route_path(scope)):
            return Match.NONE, {}
        # The app's loop goes on with the next routes, which are now the other installed ones.
        return self.installed()[0].matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.installed()[0].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.installed():
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


def defer_routes(app: FastAPI, claims: Claims, install: Install) -> None:
    """Append a placeholder for the routes ``install(app)`` adds; ``claims(path)`` must be true for
    every path they match (with or without a trailing slash), and may be true for more."""
    app.router.routes.append(DeferredRoutes(app, claims, install))
    if not getattr(app.openapi, "installs_deferred_routes", False):
        app.openapi = _openapi_installing_deferred(app)  # type: ignore[method-assign]  # FastAPI's way to customise


def install_deferred(app: FastAPI) -> None:
    """Install every deferred group of ``app`` now (before the OpenAPI document is made)."""
    for route in list(app.router.routes):
        if isinstance(route, DeferredRoutes):
            route.installed()


def _openapi_installing_deferred(app: FastAPI) -> Callable[[], dict[str, Any]]:
    original = app.openapi

    def openapi() -> dict[str, Any]:
        install_deferred(app)
        return original()

    openapi.installs_deferred_routes = True  # type: ignore[attr-defined]
    return openapi


def _route_path(scope: Scope) -> str:
    """The path routes match against: without the ASGI ``root_path`` (as Starlette's routing does)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path):] if path[len(root_path)] == "/" else path


__all__ = ["DeferredRoutes", "defer_routes", "install_deferred"]
