"""Helpers of the admin UI tests: a signed-in browser-like client over the real application."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from pushgate.registry import Database
from pushgate.registry.admin_users import create_admin_user, grant_app

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, html[:2000]
    return found.group(1)


def make_admin(db: Database, username: str, *, superuser: bool = False, apps: tuple[int, ...] = ()) -> None:
    with db.session() as session:
        create_admin_user(session, username, PASSWORD, superuser=superuser)
        for app_id in apps:
            grant_app(session, username, app_id)


@dataclass
class Browser:
    """One admin's cookie jar over the ASGI app, following the UI's forms as a browser would."""

    client: httpx.AsyncClient
    csrf: str = ""

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        form = await self.client.get("/admin/login")
        assert form.status_code == 200, form.text
        answer = await self.client.post(
            "/admin/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": csrf_of(form.text),
                "next": "/admin/",
            },
        )
        if answer.status_code == 303:
            page = await self.client.get("/admin/")
            self.csrf = csrf_of(page.text)
        return answer

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params or None)

    async def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: str | None = None,
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        body = {"csrf_token": self.csrf if csrf is None else csrf, **(data or {})}
        return await self.client.post(path, data=body, files=files)
