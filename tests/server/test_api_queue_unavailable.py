"""A queue store that stops answering (Redis down) is a 503 with Retry-After, never a 500,
and nothing is stored: the client retries."""

from __future__ import annotations

import socket

import httpx
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select

from pushgate.queue.redis_streams import RedisQueue
from pushgate.registry import Database
from pushgate.registry.models import Send
from pushgate.server import create_app
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from tests.server.api_helpers import ADMIN, ADMIN_TOKEN, apns_token


def _unreachable_redis() -> redis.Redis:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


async def test_a_send_while_redis_is_down_is_503_and_stores_nothing(database: Database) -> None:
    settings = Settings.model_validate({
        "admin_token": ADMIN_TOKEN, "queue": "redis", "redis_url": "redis://127.0.0.1:1/0",
    })
    queue = RedisQueue(_unreachable_redis(), database)  # its relay is not started: Redis is gone
    app = create_app(settings, database=database, queue=queue, metrics=Metrics())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pushgate.test") as client:
        created = await client.post("/v1/apps", json={"name": "shop"}, headers=ADMIN)
        assert created.status_code == 201, created.text
        key = {"Authorization": f"Bearer {created.json()['api_key']['key']}"}
        device = await client.post("/v1/devices", headers=key,
                                   json={"provider": "apns", "token": apns_token(1)})
        assert device.status_code == 201, device.text
        answer = await client.post("/v1/sends", headers=key,
                                   json={"notification": {"title": "Hi"}, "target": {"all": True}})
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "queue_unavailable"
    assert int(answer.headers["Retry-After"]) > 0
    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Send)) == 0
