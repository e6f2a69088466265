"""The admin UI in-process: the real application over httpx's ASGI transport, on SQLite and PostgreSQL.

The same ``database`` fixture as the API tests (a real SQLite file and a
real PostgreSQL); each browser is a cookie jar of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pushgate.queue import SqlQueue
from pushgate.registry import Database, create_app
from pushgate.server import create_app as create_server
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from tests.admin.admin_helpers import Browser, make_admin

SECRET_KEY = "admin-ui-tests-secret-key-0123456789abcdef"


@dataclass
class AdminUi:
    app: FastAPI
    db: Database
    queue: SqlQueue
    settings: Settings
    enqueued: list[str]
    open_browser: Callable[[], Awaitable[Browser]]

    def create_app(self, name: str) -> tuple[int, str]:
        with self.db.session() as session:
            app, key = create_app(session, name)
            return app.id, key

    async def signed_in(
        self, username: str, *, superuser: bool = False, apps: tuple[int, ...] = ()
    ) -> Browser:
        make_admin(self.db, username, superuser=superuser, apps=apps)
        browser = await self.open_browser()
        answer = await browser.login(username)
        assert answer.status_code == 303, answer.text
        return browser


@pytest.fixture
async def ui(database: Database) -> AsyncIterator[AdminUi]:
    settings = Settings.model_validate({"secret_key": SECRET_KEY})
    queue = SqlQueue(database)
    enqueued: list[str] = []
    app = create_server(
        settings, database=database, queue=queue, metrics=Metrics(), on_enqueue=enqueued.append
    )
    async with AsyncExitStack() as stack:

        async def open_browser() -> Browser:
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pushgate.test")
            )
            return Browser(client)

        yield AdminUi(app, database, queue, settings, enqueued, open_browser)


@pytest.fixture
async def shop(ui: AdminUi) -> tuple[int, str]:
    return ui.create_app("shop")


def form(**fields: Any) -> dict[str, Any]:
    return fields
