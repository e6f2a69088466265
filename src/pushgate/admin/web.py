"""What every admin page shares: templates, the signed-in context, errors shown as pages.

Templates are Jinja2 with autoescaping on, loaded from the package
(``pushgate/admin/templates``); assets are served from ``pushgate/admin/static``
by the server itself, so the UI works offline and needs no build step.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData, UploadFile

from pushgate.admin.errors import PREFIX, AdminPageError
from pushgate.registry.admin_users import ActiveSession
from pushgate.registry.constants import MAX_ID
from pushgate.service.components import Services

if TYPE_CHECKING:
    from jinja2 import Environment

# Every page: scripts and styles from the server only, never framed (clickjacking), not cached
# (pages may show a new API key once), no referrer beyond the site. OWASP HTTP Headers Cheat Sheet.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


@functools.cache
def _environment() -> Environment:
    """The templates, loaded on the first page: an idle server that nobody signs in to pays nothing."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(loader=PackageLoader("pushgate.admin", "templates"), trim_blocks=True,
                              autoescape=select_autoescape(default=True), lstrip_blocks=True)
    environment.filters["when"] = _when
    environment.filters["number"] = _number
    environment.filters["percent"] = lambda value: f"{100 * value:.1f}%"
    return environment


@dataclass
class Admin:
    """The signed-in admin of one request, the server's services, and the form when one was posted."""

    request: Request
    services: Services
    session: ActiveSession
    form: FormData | None = None
    notices: list[str] = field(default_factory=list)

    def require_app(self, app_id: int) -> int:
        """``app_id`` when this admin may see it; 404 otherwise (the same as a missing app)."""
        if not 0 < app_id <= MAX_ID or not self.session.may_see(app_id):
            raise AdminPageError(404, "no such app")
        return app_id

    def require_superuser(self) -> None:
        if not self.session.superuser:
            raise AdminPageError(403, "only a superuser may do this")

    def text(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def texts(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def upload(self, name: str) -> UploadFile | None:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, UploadFile) and value.filename else None


def render(admin: Admin | None, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    """A page: the template with the admin's name, CSRF token and notices."""
    values: Mapping[str, Any] = {
        "prefix": PREFIX,
        "me": admin.session if admin is not None else None,
        "csrf": admin.session.csrf_token if admin is not None else "",
        "notices": admin.notices if admin is not None else [],
        "query": admin.request.query_params if admin is not None else {},
        **context,
    }
    page = _environment().get_template(template).render(values)
    return HTMLResponse(page, status_code=code, headers=PAGE_HEADERS)


def redirect(path: str) -> RedirectResponse:
    """After a successful POST: 303 See Other, so a reload does not post again."""
    return RedirectResponse(path, status_code=303)
