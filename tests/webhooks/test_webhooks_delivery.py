"""Webhooks end to end: real sends through a real worker pool to the APNs simulator, and the
events arriving at a real HTTPS receiver — signed, retried, and disabled after a failure run.

The signatures are checked with the verification snippet of docs/webhooks.md §4, executed
as it is written there.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pushgate.planner.jobs import WEBHOOKS_QUEUE
from pushgate.queue import SqlQueue
from pushgate.registry import (
    CredentialCipher,
    Database,
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    create_app,
    create_send,
    register_device,
    set_credentials,
)
from pushgate.registry.outcome_writer import OutcomeWriter
from pushgate.registry.webhooks import load_batch
from pushgate.service.settings import Settings
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers.webhooks import MAX_BATCHES_PER_JOB, WebhookDispatcher
from tests.webhooks.receiver import Received, Receiver
from tests.workers.worker_helpers import (
    apns_credentials,
    eventually,
    running_pool,
    settings_for,
    start_send,
    status,
)

DOCS = Path(__file__).parents[2] / "docs" / "webhooks.md"
DEAD_AT_MS = 1_700_000_000_000  # when the simulator says the token died


def documented_verify() -> Any:
    """``verify`` from the Python block of docs/webhooks.md §4, run as a receiver would."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    (snippet,) = [block for block in blocks if "def verify" in block]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)
    return namespace["verify"]


def settings(db: Database, apns: APNsSimulator, ca_file: Path, **overrides: Any) -> Settings:
    chosen: dict[str, Any] = {
        "webhook_allow_hosts": ["127.0.0.0/8", "::1"], "webhook_ca_file": str(ca_file),
        "webhook_poll_seconds": 0.05, "webhook_retry_base_seconds": 0.05, "webhook_retry_max_seconds": 0.2,
    }
    return settings_for(db, apns, ca_file, **{**chosen, **overrides})


def tenant(db: Database, apns: APNsSimulator, tokens: list[str]) -> tuple[int, dict[str, str], list[int]]:
    """An app with APNs credentials and a device per token: (app id, API-key headers, device ids)."""
    with db.session() as session:
        app, key = create_app(session, f"shop-{time.monotonic_ns()}")
        set_credentials(session, app.id, "apns", apns_credentials(apns))
        ids = [register_device(session, app.id, DeviceSpec("apns", token)).id for token in tokens]
    return app.id, {"Authorization": f"Bearer {key}"}, ids


async def add_webhook(client: httpx.AsyncClient, headers: dict[str, str], url: str) -> dict[str, Any]:
    answer = await client.post("/v1/webhooks", json={"url": url}, headers=headers)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


async def webhook_state(
    client: httpx.AsyncClient, headers: dict[str, str], webhook_id: int,
) -> dict[str, Any]:
    answer = await client.get(f"/v1/webhooks/{webhook_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


async def until_disabled(
    client: httpx.AsyncClient, headers: dict[str, str], webhook_id: int,
) -> dict[str, Any]:
    """The webhook's state once GET shows it disabled (polled like ``eventually``)."""
    deadline = time.monotonic() + 30
    while True:
        state = await webhook_state(client, headers, webhook_id)
        if not state["enabled"]:
            return state
        assert time.monotonic() < deadline, f"the webhook was not disabled: {state}"
        await asyncio.sleep(0.05)


def assert_signed(request: Received, secret: str) -> None:
    verify = documented_verify()
    assert verify(secret, request.headers, request.body)
    assert not verify(secret, request.headers, request.body + b" ")
    assert not verify("whsec_another", request.headers, request.body)
    assert request.headers["pushgate-batch"] == request.json()["id"]


async def test_a_send_reaches_the_webhook_as_signed_batches_of_its_outcomes(
    database: Database, apns: APNsSimulator, receiver: Receiver, ca_file: Path,
    api_client: httpx.AsyncClient,
) -> None:
    sent_token, dead_token, failing_token = (f"{n:064x}" for n in (1, 2, 3))
    app_id, headers, (sent_id, dead_id, failed_id) = tenant(database, apns,
                                                            [sent_token, dead_token, failing_token])
    apns.set_token_state(dead_token, "unregistered", timestamp_ms=DEAD_AT_MS)
    apns.queue_error(400, "BadExpirationDate", path_contains=failing_token)
    webhook = await add_webhook(api_client, headers, receiver.url())
    async with running_pool(settings(database, apns, ca_file), database) as pool:
        send_id = start_send(database, SqlQueue(database), app_id, {"title": "Hi", "body": "there"})
        pool.wake()
        await eventually(lambda: len(receiver.events()) >= 3, what="three events at the receiver")
    by_device = {event["device_id"]: event for event in receiver.events()}
    assert len(receiver.events()) == 3
    assert by_device[sent_id]["type"] == "delivery.sent"
    assert by_device[dead_id]["type"] == "delivery.dead"
    assert by_device[dead_id]["reason"] == "Unregistered"
    assert by_device[dead_id]["provider_timestamp"] == "2023-11-14T22:13:20Z"
    assert by_device[failed_id]["type"] == "delivery.failed"
    assert by_device[failed_id]["reason"] == "BadExpirationDate"
    for device_id, event in by_device.items():
        assert event["send_id"] == send_id
        assert event["provider"] == "apns"
        assert event["id"] == f"{send_id}:{device_id}:{event['type'].removeprefix('delivery.')}"
        assert "token" not in event
        assert sent_token not in str(event)
    for request in receiver.received:
        assert request.path == "/hooks/pushgate"
        assert request.json()["webhook_id"] == webhook["id"]
        assert request.json()["app_id"] == app_id
        assert_signed(request, webhook["secret"])
    state = await webhook_state(api_client, headers, webhook["id"])
    assert state["last_success_at"] is not None
    assert state["pending_events"] == 0
    assert (state["enabled"], state["consecutive_failures"], state["last_error"]) == (True, 0, None)


async def test_a_failed_post_is_retried_through_the_queue_with_the_same_batch(
    database: Database, apns: APNsSimulator, receiver: Receiver, ca_file: Path,
    api_client: httpx.AsyncClient,
) -> None:
    receiver.answers = [500]
    app_id, headers, _ = tenant(database, apns, [f"{7:064x}"])
    webhook = await add_webhook(api_client, headers, receiver.url())
    async with running_pool(settings(database, apns, ca_file), database) as pool:
        start_send(database, SqlQueue(database), app_id, {"title": "Hi"})
        pool.wake()
        await eventually(lambda: len(receiver.received) >= 2, what="a retried batch")
        job = pool.ctx.queue.get(f"webhook:{webhook['id']}:0")
        await eventually(lambda: pool.ctx.metrics.registry.get_sample_value(
            "pushgate_webhook_events_delivered_total") == 1, what="the delivered event counted")
        posts = {result: pool.ctx.metrics.registry.get_sample_value(
            "pushgate_webhook_posts_total", {"result": result}) for result in ("http_error", "delivered")}
    first, second = receiver.received[:2]
    assert first.json() == second.json()  # the same batch, the same id: the receiver can deduplicate
    assert posts == {"http_error": 1.0, "delivered": 1.0}
    assert_signed(second, webhook["secret"])
    assert job is not None
    assert job.attempts == 2
    state = await webhook_state(api_client, headers, webhook["id"])
    assert state["last_error"] == "HTTP 500"
    assert state["last_failure_at"] is not None
    assert state["consecutive_failures"] == 0
    assert state["last_success_at"] is not None
    assert state["pending_events"] == 0


@pytest.mark.parametrize(("answer", "error"), [(500, "HTTP 500"), (302, "HTTP 302: redirect not followed")])
async def test_a_failure_run_disables_the_webhook_with_the_reason_shown(
    database: Database, apns: APNsSimulator, receiver: Receiver, ca_file: Path,
    api_client: httpx.AsyncClient, answer: int, error: str,
) -> None:
    receiver.answers = [answer] * 10
    app_id, headers, _ = tenant(database, apns, [f"{9:064x}"])
    webhook = await add_webhook(api_client, headers, receiver.url())
    async with running_pool(settings(database, apns, ca_file, webhook_max_failures=3), database) as pool:
        queue = SqlQueue(database)
        start_send(database, queue, app_id, {"title": "Hi"})
        pool.wake()
        state = await until_disabled(api_client, headers, webhook["id"])
        assert state["consecutive_failures"] == 3
        reason = f"disabled after 3 consecutive failed deliveries; last error: {error}"
        assert state["disabled_reason"] == reason
        assert state["last_error"] == error
        assert state["pending_events"] == 1
        assert len(receiver.received) == 3
        assert receiver.redirected == 0  # a 3xx is answered, never followed
        # Disabled: a new send's outcomes no longer collect events for it.
        second = start_send(database, queue, app_id, {"title": "Again"})
        pool.wake()
        await eventually(lambda: status(database, second).status == "done", what="the second send done")
    assert (await webhook_state(api_client, headers, webhook["id"]))["pending_events"] == 1
    assert len(receiver.received) == 3


async def test_a_batch_whose_worker_died_is_sent_again_with_the_same_ids(
    database: Database, apns: APNsSimulator, receiver: Receiver, ca_file: Path,
    api_client: httpx.AsyncClient,
) -> None:
    """A worker posts a batch and dies before recording it: its lease runs out, another worker
    claims the same job and posts the same events again (at least once; the ids let the
    receiver drop the copy)."""
    app_id, headers, (device_id,) = tenant(database, apns, [f"{11:064x}"])
    webhook = await add_webhook(api_client, headers, receiver.url())
    chosen = settings(database, apns, ca_file)
    queue = SqlQueue(database)
    writer = OutcomeWriter(database)
    with database.session() as session:
        send = create_send(session, app_id, {"title": "Hi"}, {"all": True})
    try:
        writer.write({(send.id, "apns"): [Outcome(device_id, DeliveryStatus.SENT)]})
    finally:
        writer.close()
    # The worker that dies: it claims the drain job, posts the batch, and is gone.
    dying = WebhookDispatcher(chosen, database, queue)
    assert await dying.schedule() == 1
    (job,) = queue.claim([WEBHOOKS_QUEUE], limit=1, lease_seconds=0.5, worker="dies")
    batch = load_batch(database, webhook["id"], CredentialCipher(None), 100)
    assert batch is not None
    assert await dying.deliver(batch) is None
    await dying.aclose()
    async with running_pool(chosen, database):
        await eventually(lambda: len(receiver.received) >= 2, what="the batch sent again")
        await eventually(lambda: getattr(queue.get(job.id), "status", None) == "done", what="the job done")
    first, second = receiver.received
    assert first.json() == second.json()
    assert [e["id"] for e in second.json()["events"]] == [f"{send.id}:{device_id}:sent"]
    state = await webhook_state(api_client, headers, webhook["id"])
    assert state["pending_events"] == 0


async def test_a_backlog_is_drained_by_consecutive_jobs_without_waiting_for_the_poll(
    database: Database, apns: APNsSimulator, receiver: Receiver, ca_file: Path,
    api_client: httpx.AsyncClient,
) -> None:
    """One event per batch and more events than a job's batches: the job that used up its
    batches enqueues the next one itself (the poll is an hour away here)."""
    devices = MAX_BATCHES_PER_JOB + 5
    app_id, headers, _ = tenant(database, apns, [f"{100 + n:064x}" for n in range(devices)])
    webhook = await add_webhook(api_client, headers, receiver.url())
    chosen = settings(database, apns, ca_file, webhook_batch_size=1, webhook_poll_seconds=3600)
    async with running_pool(chosen, database) as pool:
        send_id = start_send(database, SqlQueue(database), app_id, {"title": "Hi"})
        pool.wake()
        await eventually(lambda: status(database, send_id).status == "done", what="the send done")
        assert pool.ctx.webhooks is not None
        assert await pool.ctx.webhooks.schedule() == 1  # the poll, once
        pool.wake()
        await eventually(lambda: len(receiver.events()) >= devices, what="every event delivered")
        assert pool.ctx.queue.get(f"webhook:{webhook['id']}:1") is not None
    assert len(receiver.received) == devices
    assert len({e["id"] for e in receiver.events()}) == devices


async def test_after_a_rotation_batches_carry_both_signatures_until_the_old_secret_expires(
    database: Database, apns: APNsSimulator, receiver: Receiver, ca_file: Path,
    api_client: httpx.AsyncClient,
) -> None:
    """A receiver that still holds the old secret keeps verifying while it deploys the new one."""
    app_id, headers, _ = tenant(database, apns, [f"{n:064x}" for n in (1, 2)])
    webhook = await add_webhook(api_client, headers, receiver.url())
    path = f"/v1/webhooks/{webhook['id']}/rotate-secret"
    rotated = await api_client.post(path, json={"previous_valid_seconds": 3600}, headers=headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["previous_secret_expires_at"] is not None
    async with running_pool(settings(database, apns, ca_file), database) as pool:
        start_send(database, SqlQueue(database), app_id, {"title": "Hi"})
        pool.wake()
        await eventually(lambda: len(receiver.events()) >= 2, what="the events at the receiver")
        first = receiver.received[0]
        assert first.headers["pushgate-signature"].count("v1=") == 2
        assert_signed(first, rotated.json()["secret"])
        assert_signed(first, webhook["secret"])

        again = await api_client.post(path, json={"previous_valid_seconds": 0}, headers=headers)
        assert again.json()["previous_secret_expires_at"] is None
        seen = len(receiver.received)
        start_send(database, SqlQueue(database), app_id, {"title": "Again"})
        pool.wake()
        await eventually(lambda: len(receiver.received) > seen, what="a batch after the second rotation")
    last = receiver.received[-1]
    assert last.headers["pushgate-signature"].count("v1=") == 1
    assert_signed(last, again.json()["secret"])
    assert not documented_verify()(rotated.json()["secret"], last.headers, last.body)
