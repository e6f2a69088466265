"""/health, /ready (503 when the database is gone or behind) and /metrics."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from pushgate.queue import SqlQueue
from pushgate.registry import Database
from pushgate.results import Status, TokenResult
from pushgate.server import create_app
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from tests.server.api_helpers import ADMIN_TOKEN, Api, Tenant, apns_token


def client_for(db: Database, metrics: Metrics | None = None) -> httpx.AsyncClient:
    settings = Settings(admin_token=SecretStr(ADMIN_TOKEN))
    app = create_app(settings, database=db, queue=SqlQueue(db), metrics=metrics)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pushgate.test")


async def test_health_and_ready(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    ready = await api.client.get("/ready")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert [checks[name]["ok"] for name in ("database", "schema", "queue")] == [True, True, True]


async def test_ready_is_503_for_a_database_never_migrated(empty_database_url: str) -> None:
    with Database(empty_database_url) as db:
        async with client_for(db) as client:
            answer = await client.get("/ready")
            assert answer.status_code == 503
            assert answer.json()["checks"]["schema"]["revision"] is None
            assert "pushgate migrate" in answer.json()["checks"]["schema"]["problem"]
            assert (await client.get("/health")).status_code == 200


async def test_ready_is_503_when_the_sqlite_file_is_gone(sqlite_migrated: Path, tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    shutil.copyfile(sqlite_migrated, path)
    with Database(f"sqlite:///{path}") as db:
        async with client_for(db) as client:
            assert (await client.get("/ready")).status_code == 200
            db.dispose()
            for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if name.exists():
                    os.remove(name)
            answer = await client.get("/ready")  # SQLite opens a new, empty file: no schema, no queue
            assert answer.status_code == 503
            assert answer.json()["status"] == "unavailable"
            checks = answer.json()["checks"]
            assert (checks["schema"]["ok"], checks["queue"]["ok"]) == (False, False)


@pytest.mark.postgres
async def test_ready_is_503_when_postgresql_is_gone(
    postgres_databases: Callable[[], str], postgres_admin: sa.Engine
) -> None:
    url = postgres_databases()
    with Database(url) as db:
        db.migrate()
        async with client_for(db) as client:
            assert (await client.get("/ready")).status_code == 200
            name = db.url.database
            with postgres_admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            answer = await client.get("/ready")
            assert answer.status_code == 503
            checks = answer.json()["checks"]
            assert checks["database"] == {"ok": False, "error": "OperationalError"}
            assert checks["queue"]["ok"] is False
            assert "postgres" not in answer.text.lower()  # no connection string in the answer
            assert (await client.get("/metrics")).status_code == 200  # scrapes survive


async def test_metrics_expose_the_named_series(api: Api, shop: Tenant) -> None:
    await api.device(shop, provider="apns", token=apns_token(1))
    await api.client.post("/v1/sends", json={"notification": {"title": "x"}, "target": {"all": True}},
                          headers=shop.headers)
    await api.client.get(f"/v1/devices/{12345}", headers=shop.headers)
    metrics: Metrics = api.app.state.services.metrics
    # What the workers record into the same registry.
    metrics.observe("apns", TokenResult("t", Status.DEAD, reason="Unregistered", latency=0.02))
    metrics.auth_refreshes.labels("apns").inc()
    text = (await api.client.get("/metrics")).text
    assert 'pushgate_http_requests_total{method="POST",route="/v1/sends",status="202"} 1.0' in text
    assert 'route="/v1/devices/{device_id}",status="404"' in text  # the template, not the id
    assert 'pushgate_http_request_seconds_bucket{le="0.005",route="/v1/sends"}' in text
    assert 'pushgate_queue_depth{queue="fanout"} 1.0' in text
    assert "pushgate_sends_total 1.0" in text
    assert 'pushgate_deliveries_total{provider="apns",reason="Unregistered",status="dead"} 1.0' in text
    assert 'pushgate_provider_request_seconds_count{provider="apns"} 1.0' in text
    assert 'pushgate_auth_token_refreshes_total{provider="apns"} 1.0' in text
    assert "pushgate_paused_app_providers" in text
    unmatched = await api.client.get("/no/such/path")
    assert unmatched.status_code == 404
    assert 'route="<unmatched>"' in (await api.client.get("/metrics")).text


async def test_openapi_documents_the_v1_api(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    paths = set(schema["paths"])
    assert {"/v1/devices", "/v1/devices/{device_id}", "/v1/devices/import", "/v1/users/{external_id}",
            "/v1/sends", "/v1/sends/{send_id}", "/v1/sends/{send_id}/deliveries", "/v1/apps",
            "/v1/apps/{app_id}/credentials/{provider}", "/v1/app", "/health", "/ready"} <= paths
    assert "Notification" in schema["components"]["schemas"]
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


@pytest.mark.parametrize("threads", [None, 3])
async def test_the_api_runs_its_blocking_work_on_api_threads_threads(database: Database, threads: int | None,
                                                                       ) -> None:
    """anyio's pool (40 threads by default) is bounded by ``api_threads`` once the app starts."""
    settings = Settings() if threads is None else Settings(api_threads=threads)
    app = create_app(settings, database=database, queue=SqlQueue(database), metrics=Metrics())
    async with app.router.lifespan_context(app):
        limiter = anyio.to_thread.current_default_thread_limiter()
        assert limiter.total_tokens == (threads or 8)
