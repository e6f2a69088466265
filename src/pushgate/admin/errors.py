"""What the server needs of the admin UI before its first page: its path and the errors shown as pages.

The API registers these handlers when it is built (Starlette fixes its
exception handlers when the app starts); the pages themselves are imported
on the first request under ``/admin`` (:mod:`pushgate.server.deferred`).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

PREFIX = "/admin"


class AdminPageError(Exception):
    """Answered as an HTML page with this status (404 for another admin's app, 403 for CSRF…)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminPageError)
    from pushgate.admin.web import render  # raised by the pages, so they are loaded already

    return render(None, "error.html", code=exc.status, message=exc.message)


async def login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    from urllib.parse import quote

    return RedirectResponse(f"{PREFIX}/login?next={quote(exc.next_path, safe='/')}", status_code=303)


__all__ = ["PREFIX", "AdminPageError", "LoginRequired", "login_required", "page_error"]
