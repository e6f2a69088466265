"""Signing in to the admin UI: sessions, CSRF, lock-out, per-app scoping.

- **Sessions** are server-side (:mod:`pushgate.registry.admin_users`): the
  cookie holds a random token (``HttpOnly``, ``SameSite=Strict``, path
  ``/admin``, ``Secure`` when the request came over HTTPS), the database its
  hash and expiry (``admin_session_hours``). Logging out deletes the row.
- **CSRF**: every form carries the session's token in a hidden
  ``csrf_token`` field (scripts send it as ``X-CSRF-Token``), compared in
  constant time on every POST; the login form, which has no session yet,
  uses a double-submit cookie. A mismatch is 403 and nothing is changed
  (OWASP CSRF Prevention Cheat Sheet: synchronizer token; double submit).
- **Lock-out**: ``admin_max_failed_logins`` wrong passwords in a row lock
  the account for ``admin_lockout_minutes``.
- **Scoping**: an admin sees the apps granted to them (``pushgate admin
  grant``), a superuser every app; any other app's pages answer 404, the
  same as a missing app, whatever id is typed into the URL.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from pushgate.admin.errors import PREFIX, AdminPageError, LoginRequired
from pushgate.admin.web import Admin, redirect, render
from pushgate.registry.admin_users import (
    ActiveSession,
    attempt_login,
    end_admin_session,
    find_admin_session,
    start_admin_session,
)
from pushgate.service.components import Services

SESSION_COOKIE = "pushgate_admin"
LOGIN_COOKIE = "pushgate_admin_login"  # the login form's double-submit CSRF token
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _find(services: Services, token: str) -> ActiveSession | None:
    with services.db.session(write=False) as session:
        return find_admin_session(session, token)


async def signed_in(request: Request) -> AsyncIterator[Admin]:
    """The request's admin; unauthenticated GETs go to the login page, POSTs need the CSRF token.

    A posted form is closed after the page is answered (uploads are spooled to temporary files).
    """
    services = _services(request)
    token = request.cookies.get(SESSION_COOKIE)
    found = await run_in_threadpool(_find, services, token) if token else None
    if found is None:
        if request.method == "GET":
            raise LoginRequired(request.url.path)
        raise AdminPageError(401, "your session has ended: sign in again")
    admin = Admin(request, services, found)
    if request.method == "POST":
        admin.form = await request.form()
        given = request.headers.get(CSRF_HEADER) or admin.text(CSRF_FIELD)
        if not given or not hmac.compare_digest(given.encode(), found.csrf_token.encode()):
            await admin.form.close()
            raise AdminPageError(403, "the form's CSRF token is missing or wrong: reload the page and retry")
    try:
        yield admin
    finally:
        if admin.form is not None:
            await admin.form.close()


SignedIn = Annotated[Admin, Depends(signed_in)]


def _safe_next(path: str | None) -> str:
    # Only a path inside the admin UI: never an absolute URL (an open redirect).
    if path and path.startswith(PREFIX + "/") and not path.startswith("//") and "\\" not in path:
        return path
    return PREFIX + "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(None, "login.html", login_csrf=token, next=_safe_next(next), error=None)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path=PREFIX,
                        secure=_secure(request), max_age=3600)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    # The form is read here rather than declared with Form(): the server's control-character
    # guard reads the body first, and a declared form would be parsed before it.
    async with request.form() as form:
        return await _login(request, form)


async def _login(request: Request, form: FormData) -> Response:
    def field(name: str, limit: int) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    username, password = field("username", 100), field("password", 1024)
    csrf_token, next_path = field("csrf_token", 100), field("next", 2000)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        raise AdminPageError(403, "the sign-in form expired or was not sent by this site: reload it")
    services = _services(request)
    token, locked_until = await run_in_threadpool(_sign_in, services, username, password)
    if token is None:
        error = "Wrong user name or password."
        if locked_until is not None:
            error = f"Too many failed attempts: this account is locked until {locked_until:%H:%M} UTC."
        return render(None, "login.html", code=401, login_csrf=csrf_token, next=_safe_next(next_path),
                      error=error, username=username)
    response = redirect(_safe_next(next_path))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path=PREFIX,
                        secure=_secure(request), max_age=int(services.settings.admin_session_hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


def _sign_in(services: Services, username: str, password: str) -> tuple[str | None, datetime | None]:
    """A new session's token, or None and the end of the lock-out (when the account is locked)."""
    settings = services.settings
    with services.db.session() as session:
        result = attempt_login(session, username, password, max_failures=settings.admin_max_failed_logins,
                               lockout=timedelta(minutes=settings.admin_lockout_minutes))
        if result.user is None:
            return None, result.locked_until
        return start_admin_session(session, result.user,
                                   lifetime=timedelta(hours=settings.admin_session_hours)), None


@router.post("/logout")
def logout(admin: SignedIn) -> Response:
    token = admin.request.cookies.get(SESSION_COOKIE, "")
    with admin.services.db.session() as session:
        end_admin_session(session, token)
    response = redirect(PREFIX + "/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
