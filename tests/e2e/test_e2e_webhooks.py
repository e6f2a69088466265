"""Delivery webhooks through a running `pushgate serve`: settings from the environment, the
webhook made through the API, a send's outcomes arriving signed at a real HTTPS receiver —
with the SQL queue, and with the Redis Streams queue and an API-only server beside a worker."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.tls import LocalCA
from pushgate.workers.webhooks import signature
from tests.e2e.e2e_helpers import GatewayFor, StartServer, StartSimulators, provider_app, sim_of, wait_for
from tests.queue.redis_fixtures import redis_prefix, redis_url
from tests.webhooks.receiver import Receiver

__all__ = ["redis_prefix", "redis_url"]  # fixtures


@pytest.fixture
async def receiver(local_ca: LocalCA) -> AsyncIterator[Receiver]:
    started = await Receiver(local_ca.server_context(alpn=("http/1.1",))).start()
    yield started
    await started.stop()


@pytest.mark.parametrize("queue", ["sql", "redis"])
async def test_a_served_send_reaches_the_apps_webhook(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer,
    gateway_for: GatewayFor, receiver: Receiver, ca_file: Path, queue: str, request: pytest.FixtureRequest,
) -> None:
    settings: dict[str, Any] = {"webhook_allow_hosts": ["127.0.0.0/8", "::1"],
                                "webhook_ca_file": str(ca_file), "webhook_poll_seconds": 0.1}
    if queue == "redis":
        settings.update(queue="redis", redis_url=request.getfixturevalue("redis_url"),
                        redis_key_prefix=request.getfixturevalue("redis_prefix"))
    server_settings = {**settings, "workers": 0} if queue == "redis" else settings
    served = await provider_app("apns", database_url, start_simulators, start_server, gateway_for,
                                **server_settings)
    api, auth = served.api, served.auth
    apns = sim_of(served.sims, "apns", APNsSimulator)
    if queue == "redis":  # the API server runs no workers; this process delivers (up before any send)
        await start_server(database_url, served.sims, "worker", **settings)
    live, gone = secrets.token_hex(32), secrets.token_hex(32)
    devices = {token: (await api.register(auth, {"provider": "apns", "token": token}))["id"]
               for token in (live, gone)}
    apns.set_token_state(gone, "unregistered", timestamp_ms=1_765_000_000_000)
    refused = await api.http.post("/v1/webhooks", json={"url": "https://10.0.0.1/hook"}, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "body.url"
    made = await api.http.post("/v1/webhooks", json={"url": receiver.url()}, headers=auth)
    assert made.status_code == 201, made.text
    webhook = made.json()

    accepted = await api.send(auth, {"title": "Shipped"}, {"all": True})
    await api.wait_done(auth, accepted["id"])
    await wait_for(lambda: _count(receiver), lambda n: n >= 2, 30, "two events at the receiver")

    by_device = {event["device_id"]: event for event in receiver.events()}
    assert by_device[devices[live]]["type"] == "delivery.sent"
    assert by_device[devices[gone]]["type"] == "delivery.dead"
    assert by_device[devices[gone]]["provider_timestamp"] == "2025-12-06T05:46:40Z"
    for post in receiver.received:
        timestamp = post.headers["pushgate-timestamp"]
        assert post.headers["pushgate-signature"] == signature(webhook["secret"], timestamp, post.body)

    async def shown() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.http.get(f"/v1/webhooks/{webhook['id']}", headers=auth)).json()
        return answer

    # The worker deletes the events once the answer is in: a moment after the receiver has them.
    state = await wait_for(shown, lambda s: s["pending_events"] == 0, 30, "the events acknowledged")
    assert state["last_success_at"] is not None


async def _count(receiver: Receiver) -> int:
    return len(receiver.events())
