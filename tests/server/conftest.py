"""The API in-process: the real FastAPI app over httpx's ASGI transport, on SQLite and PostgreSQL.

Every test gets a migrated, empty database (the shared ``database``
fixture, parametrized over a real SQLite file and a real PostgreSQL) and
talks to the app only through HTTP requests; the registry and the queue
behind it are the real ones, read directly when a test checks what was
stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from pushgate.queue import SqlQueue
from pushgate.registry import Database
from pushgate.server import create_app
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from tests.server.api_helpers import ADMIN_TOKEN, Api, Secrets, Tenant, make_secrets


@pytest.fixture(scope="session")
def provider_secrets() -> Secrets:
    return make_secrets()


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(database: Database) -> AsyncIterator[MakeApi]:
    """Build an API on the test database with some settings changed (``max_queue_depth=1``...)."""
    async with AsyncExitStack() as stack:

        async def build(**overrides: Any) -> Api:
            settings = Settings.model_validate({"admin_token": ADMIN_TOKEN, **overrides})
            queue = SqlQueue(database)
            enqueued: list[str] = []
            app = create_app(settings, database=database, queue=queue, metrics=Metrics(),
                             on_enqueue=enqueued.append)
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pushgate.test")
            )
            return Api(client, app, database, queue, settings, enqueued)

        yield build


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()


@pytest.fixture
async def shop(api: Api) -> Tenant:
    return await api.tenant("shop")
