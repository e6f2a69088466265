"""The admin web UI at ``/admin``, served by ``pushgate serve`` in the same process.

Server-rendered pages (Jinja2) with a little plain script, assets shipped
in the package: no build step, works offline. Pages read and write through
the registry and service functions the HTTP API uses — submitting a send,
cancelling it, storing credentials, issuing keys, changing devices — so
there is one copy of each rule. Sign-in, sessions, CSRF, lock-out and
per-app scoping are in :mod:`pushgate.admin.auth`; docs/admin.md has the
operator's guide.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from pushgate.admin.errors import PREFIX, AdminPageError, LoginRequired, login_required, page_error
from pushgate.server.deferred import defer_routes

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the admin pages, their assets and their error pages to the API's application.

    The pages (their modules, routes and forms) are imported by the first request under
    ``/admin``: an idle server that nobody signs in to does not hold them (bench scenario 6).
    """
    app.add_exception_handler(AdminPageError, page_error)
    app.add_exception_handler(LoginRequired, login_required)
    defer_routes(app, lambda path: path.startswith(PREFIX), install_pages)


def install_pages(app: FastAPI) -> None:
    """The pages, their assets and the bare ``/admin`` redirect, appended to the app's routes."""
    from fastapi.responses import RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from pushgate.admin import apps, audience, auth, compose, devices, messages, overview, sends

    for module in (auth, overview, apps, devices, compose, sends, messages, audience):
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="admin-static")
    app.add_api_route(PREFIX, lambda: RedirectResponse(PREFIX + "/", status_code=307),
                      include_in_schema=False)


__all__ = ["install", "install_pages"]
