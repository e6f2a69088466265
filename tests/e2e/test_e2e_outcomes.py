"""What the workers do with the providers' answers, seen from outside a running server.

- Dead tokens deactivate their device, unless it re-registered after the
  provider's "unregistered since" timestamp (APNs 410), which keeps it.
- A provider rejecting the app's credentials pauses that app's provider:
  no more requests, nothing recorded as failed, the error shown on
  ``GET /v1/app``; fixed credentials resume the send.
- Temporary failures are retried through the queue: the retried APNs
  request carries the same ``apns-id``, and a Retry-After is honoured.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.registry import Database
from pushgate.simulators._base import Fault
from pushgate.simulators._server import SimAction, SimRequest
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.webpush import WebPushSimulator
from pushgate.workers.delivery import delivery_id
from tests.e2e.e2e_helpers import (
    GatewayFor,
    StartServer,
    StartSimulators,
    credentials_for,
    fcm_gateway,
    host_of,
    sim_of,
    wait_for,
)


async def test_dead_tokens_deactivate_devices_unless_re_registered_after_the_timestamp(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    sims = await start_simulators(("apns", "fcm", "webpush"))
    server = await start_server(database_url, sims)
    api = gateway_for(server)
    app_id, auth = await api.create_app()
    for provider, config in credentials_for(sims).items():
        await api.put_credentials(app_id, provider, config)
    apns_sim = sim_of(sims, "apns", APNsSimulator)
    fcm_sim = sim_of(sims, "fcm", FCMSimulator)
    webpush_sim = sim_of(sims, "webpush", WebPushSimulator)
    gone, back, alive = (secrets.token_hex(32) for _ in range(3))
    fcm_gone = fcm_sim.register_token()
    subscription = webpush_sim.subscribe()
    devices = {
        "gone": await api.register(auth, {"provider": "apns", "token": gone}),
        "back": await api.register(auth, {"provider": "apns", "token": back}),
        "alive": await api.register(auth, {"provider": "apns", "token": alive}),
        "fcm_gone": await api.register(auth, {"provider": "fcm", "token": fcm_gone}),
        "webpush_gone": await api.register(auth, {"provider": "webpush", "subscription": subscription}),
    }
    # "gone" stopped being valid after it registered; "back" stopped being
    # valid a minute before the app registered it again.
    now_ms = int(time.time() * 1000)
    apns_sim.set_token_state(gone, "unregistered", now_ms + 60_000)
    apns_sim.set_token_state(back, "unregistered", now_ms - 60_000)
    devices["back"] = await api.register(auth, {"provider": "apns", "token": back})  # re-registration
    fcm_sim.set_token_state(fcm_gone, "unregistered")
    webpush_sim.unsubscribe(subscription["endpoint"])

    first = await api.send(auth, {"title": "One"}, {"all": True})
    status = await api.wait_done(auth, first["id"])
    assert (status["sent"], status["dead"], status["failed"]) == (1, 4, 0)
    reasons = {d["device_id"]: (d["status"], d["reason"]) for d in await api.deliveries(auth, first["id"])}
    assert reasons[devices["gone"]["id"]] == ("dead", "Unregistered")
    assert reasons[devices["fcm_gone"]["id"]][0] == "dead"

    async def active(name: str) -> bool:
        answer = await api.http.get(f"/v1/devices/{devices[name]['id']}", headers=auth)
        assert answer.status_code == 200
        return bool(answer.json()["active"])

    assert not await active("gone")
    assert await active("back"), "re-registered after the provider's timestamp: kept"
    assert await active("alive")
    assert not await active("fcm_gone")
    assert not await active("webpush_gone")

    second = await api.send(auth, {"title": "Two"}, {"all": True})
    assert second["targeted"] == 2  # alive and back
    await api.wait_done(auth, second["id"])


async def test_rejected_credentials_pause_the_app_and_fixed_ones_resume_it(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    sims = await start_simulators(("apns",))
    apns = sims["apns"]
    server = await start_server(database_url, sims, worker_concurrency=10, chunk_size=20)
    api = gateway_for(server)
    app_id, auth = await api.create_app()
    good = credentials_for(sims)["apns"]
    unknown_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    await api.put_credentials(app_id, "apns", {**good, "key": unknown_key, "key_id": "UNKNOWN123"})
    await api.import_devices(auth, [{"provider": "apns", "token": secrets.token_hex(32)} for _ in range(200)])

    send = await api.send(auth, {"title": "Paused"}, {"all": True})

    async def apns_state() -> dict[str, Any]:
        answer = await api.http.get("/v1/app", headers=auth)
        assert answer.status_code == 200
        return next(s for s in answer.json()["provider_states"] if s["provider"] == "apns")

    state = await wait_for(apns_state, lambda s: s["paused"], 60, "the app was not paused")
    assert state["error"] == "InvalidProviderToken"
    assert state["paused_until"] is not None
    status = await wait_for(lambda: api.status(auth, send["id"]), lambda s: s["targeted"] == 200, 60,
                            "fan-out did not finish")  # fan-out goes on during a pause
    requests_when_paused = apns.requests
    assert (status["sent"], status["failed"], status["pending"]) == (0, 0, 200), "nothing burned"
    assert requests_when_paused <= 10 + 10, "sending stopped at the first rejected requests"
    assert not apns.accepted

    await api.put_credentials(app_id, "apns", good)  # the fix; storing it lifts the pause
    status = await api.wait_done(auth, send["id"], within=60)
    assert status["sent"] == 200
    assert len({r["token"] for r in apns.accepted}) == 200
    assert not (await apns_state())["paused"]


async def test_an_endpoint_off_the_allow_list_fails_that_device_and_pauses_nothing(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    """A push service host taken off the allow-list after devices registered on it: those
    devices fail with DisallowedEndpoint, and the app's other subscriptions still get theirs
    (it is one subscription's endpoint, not the app's credentials)."""
    sims = await start_simulators(("webpush",))
    webpush = sim_of(sims, "webpush", WebPushSimulator)
    former = "push.example.test"
    server = await start_server(
        database_url, sims, providers__webpush__allowed_hosts=[host_of(webpush.url), former]
    )
    api = gateway_for(server)
    app_id, auth = await api.create_app()
    await api.put_credentials(app_id, "webpush", credentials_for(sims)["webpush"])
    reachable = webpush.subscribe()
    elsewhere = {**webpush.subscribe(), "endpoint": f"https://{former}/wpush/v2/abc"}
    kept = await api.register(auth, {"provider": "webpush", "subscription": reachable})
    refused = await api.register(auth, {"provider": "webpush", "subscription": elsewhere})
    await server.terminate()

    server = await start_server(database_url, sims)  # the allow-list without the former host
    api = gateway_for(server)
    for title in ("One", "Two"):
        send = await api.send(auth, {"title": title}, {"all": True})
        status = await api.wait_done(auth, send["id"], within=60)
        assert (status["sent"], status["failed"], status["pending"]) == (1, 1, 0)
        deliveries = await api.deliveries(auth, send["id"])
        outcomes = {d["device_id"]: (d["status"], d["reason"]) for d in deliveries}
        assert outcomes == {kept["id"]: ("sent", None), refused["id"]: ("failed", "DisallowedEndpoint")}
    answer = await api.http.get("/v1/app", headers=auth)
    assert not any(state["paused"] for state in answer.json()["provider_states"])
    assert [r["payload"]["title"] for r in webpush.inbox(reachable["endpoint"])] == ["One", "Two"]


class RecordingAPNs(APNsSimulator):
    """The APNs simulator, also noting the apns-id of every push it answers (faults included)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.seen: list[tuple[str, str | None]] = []

    async def _dispatch(self, request: SimRequest) -> SimAction:
        if request.path.startswith("/3/device/"):
            self.seen.append((request.path.rsplit("/", 1)[-1], request.header("apns-id")))
        return await super()._dispatch(request)


async def test_retried_apns_pushes_keep_their_apns_id(
    database_url: str, local_ca: Any, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    apns = RecordingAPNs(ca=local_ca)
    await apns.start()
    try:
        sims = {"apns": apns}
        server = await start_server(database_url, sims, worker_concurrency=1)
        api = gateway_for(server)
        app_id, auth = await api.create_app()
        await api.put_credentials(app_id, "apns", credentials_for(sims)["apns"])
        tokens = [apns.issue_token() for _ in range(3)]
        devices = [await api.register(auth, {"provider": "apns", "token": t}) for t in tokens]
        apns.queue_error(503, "ServiceUnavailable", count=2)

        send = await api.send(auth, {"title": "Again"}, {"all": True})
        status = await api.wait_done(auth, send["id"], within=60)
        assert status["sent"] == 3
        deliveries = {d["device_id"]: d for d in await api.deliveries(auth, send["id"])}
        retried = [d for d in deliveries.values() if d["attempts"] == 2]
        assert len(retried) == 2
        for device in devices:
            expected = delivery_id(send["id"], device["id"])
            ids = [apns_id for token, apns_id in apns.seen if token == device["token"]]
            assert ids == [expected] * deliveries[device["id"]]["attempts"]
            assert deliveries[device["id"]]["message_id"] == expected
    finally:
        await apns.stop()


async def test_retry_after_from_the_provider_defers_the_retry(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    gate = await fcm_gateway(database_url, start_simulators, start_server, gateway_for)
    fcm, api, auth = gate.fcm, gate.api, gate.auth
    token = fcm.register_token()
    await api.register(auth, {"provider": "fcm", "token": token})
    fcm.inject_error(503, retry_after=3)

    send = await api.send(auth, {"title": "Later"}, {"all": True})
    status = await api.wait_done(auth, send["id"], within=60)
    assert status["sent"] == 1
    [delivery] = await api.deliveries(auth, send["id"])
    assert delivery["attempts"] == 2
    assert len(fcm.accepted) == 1
    with Database(database_url) as db, db.connect(write=False) as connection:
        retry = connection.execute(
            sa.text("SELECT run_at, created_at FROM jobs WHERE id LIKE :pattern"), {"pattern": "%~2.0R"}
        ).one()
    # Retry-After counts from the answer, which came a moment before the retry job was stored.
    assert retry.run_at - retry.created_at >= 2.9, "the retry was due no sooner than Retry-After"


CAPPED_PROVIDERS = ("fcm", "webpush", "wns")
PUSH_PATHS = {"fcm": "messages:send", "webpush": "/wpush/", "wns": "token="}  # not their OAuth endpoints


async def test_a_long_retry_after_is_capped_and_a_retry_beyond_the_expiry_ends_expired(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    sims = await start_simulators(CAPPED_PROVIDERS)
    server = await start_server(database_url, sims, max_retry_delay=3)
    api = gateway_for(server)
    app_id, auth = await api.create_app()
    for provider, config in credentials_for(sims).items():
        await api.put_credentials(app_id, provider, config)
    await api.register(auth, {"provider": "fcm", "token": sims["fcm"].register_token()})  # type: ignore[attr-defined]
    await api.register(auth, {"provider": "webpush",
                              "subscription": sims["webpush"].subscribe()})  # type: ignore[attr-defined]
    await api.register(auth, {"provider": "wns",
                              "token": sims["wns"].channel_uri("channel-0")})  # type: ignore[attr-defined]

    def throttle() -> None:  # 11.6 days, as a misbehaving provider might answer
        for name in CAPPED_PROVIDERS:
            fault = Fault(429, b"", [("retry-after", "999999")], path_contains=PUSH_PATHS[name])
            sims[name].queue_fault(fault)

    # Its next try (3 s away, capped) would come after it expired (2 s): expired, not parked.
    throttle()
    short = await api.send(auth, {"title": "Soon stale", "ttl": 2}, {"all": True})
    status = await api.wait_done(auth, short["id"], within=30)
    assert (status["expired"], status["sent"], status["pending"]) == (3, 0, 0)

    throttle()
    send = await api.send(auth, {"title": "Later"}, {"all": True})
    status = await api.wait_done(auth, send["id"], within=30)
    assert status["sent"] == 3
    with Database(database_url) as db, db.connect(write=False) as connection:
        delays = connection.execute(
            sa.text("SELECT run_at - created_at FROM jobs WHERE id LIKE :pattern"),
            {"pattern": f"{send['id']}%~2.0R"},
        ).scalars().all()
    assert len(delays) == 3
    assert all(delay <= 3.5 for delay in delays), delays  # max_retry_delay, not Retry-After
