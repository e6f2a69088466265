"""The APNs client against the APNs simulator over real TLS + HTTP/2 (docs/protocols/apns.md, §6)."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pushgate.errors import ConfigurationError, PayloadTooLarge
from pushgate.notification import Notification, Priority
from pushgate.providers import Message
from pushgate.providers.apns.client import APNs
from pushgate.providers.apns.payload import TOPIC_SUFFIXES
from pushgate.results import Cause, Status
from pushgate.simulators._base import Fault, ManualClock
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.tls import LocalCA

ClientFactory = Callable[..., APNs]
ALERT = Notification(title="Hello", body="World")


def tokens(n: int) -> list[str]:
    return [secrets.token_hex(32) for _ in range(n)]


@pytest.fixture
async def make_client(
    sim: APNsSimulator, demo: dict[str, Any], ca_file: Path, clock: ManualClock
) -> AsyncIterator[ClientFactory]:
    made: list[APNs] = []

    def factory(**kw: Any) -> APNs:
        options: dict[str, Any] = {
            "key": demo["key"], "key_id": demo["key_id"], "team_id": demo["team_id"],
            "topic": demo["topic"], "base_url": sim.url, "ca_file": ca_file, "clock": clock,
            "retry_backoff": 0.001,
        }
        options.update(kw)
        client = APNs(**{k: v for k, v in options.items() if v is not None})
        made.append(client)
        return client

    yield factory
    for client in made:
        await client.aclose()


async def test_success_with_message_ids(sim: APNsSimulator, make_client: ClientFactory) -> None:
    client = make_client()
    targets = tokens(3)
    result = await client.send(ALERT, targets)
    assert result.ok
    assert result.tokens == targets
    by_token = {entry["token"]: entry for entry in sim.accepted}
    for outcome in result:
        assert outcome.http_status == 200
        assert outcome.message_id == str(uuid.UUID(outcome.message_id or ""))
        assert by_token[outcome.token]["apns_id"] == outcome.message_id
        assert by_token[outcome.token]["payload"] == {"aps": {"alert": {"title": "Hello", "body": "World"}}}
    assert len({r.message_id for r in result}) == 3


async def test_given_message_id_is_the_apns_id(sim: APNsSimulator, make_client: ClientFactory) -> None:
    given = str(uuid.uuid4())
    token = secrets.token_hex(32)
    result = await make_client().send_messages([Message(token, ALERT, given)])
    assert result.results[0].message_id == given
    assert sim.accepted[0]["apns_id"] == given


async def test_dead_tokens(sim: APNsSimulator, make_client: ClientFactory) -> None:
    unregistered = sim.add_token(topic="com.example.app")
    sim.set_token_state(unregistered, "unregistered", timestamp_ms=1_700_000_000_500)
    expired = sim.add_token(state="expired")
    bad = sim.add_token(state="bad")
    other_app = sim.add_token(topic="com.other.app")
    result = await make_client().send(ALERT, [unregistered, expired, bad, other_app])
    outcomes = result.by_token
    assert {t: (o.status, o.reason, o.http_status) for t, o in outcomes.items()} == {
        unregistered: (Status.DEAD, "Unregistered", 410),
        expired: (Status.DEAD, "ExpiredToken", 410),
        bad: (Status.DEAD, "BadDeviceToken", 400),
        other_app: (Status.DEAD, "DeviceTokenNotForTopic", 400),
    }
    assert outcomes[unregistered].timestamp == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)
    assert sorted(result.dead_tokens) == sorted(outcomes)


async def test_malformed_token_is_dead_without_a_request(
    sim: APNsSimulator, make_client: ClientFactory
) -> None:
    result = await make_client().send(ALERT, ["", "abc", "zz" * 32, "<ab cd>"])
    assert all(r.status is Status.DEAD and r.reason == "BadDeviceToken" for r in result)
    assert sim.requests == 0


async def test_jwt_refreshed_after_an_hour(
    sim: APNsSimulator, make_client: ClientFactory, clock: ManualClock
) -> None:
    client = make_client()
    assert client.tokens_minted == 0  # signed on first use
    assert (await client.send_one(ALERT, secrets.token_hex(32))).ok
    assert client.tokens_minted == 1
    clock.advance(3601)
    outcome = await client.send_one(ALERT, secrets.token_hex(32))
    assert outcome.ok
    assert outcome.attempts == 1  # refreshed before sending, not after a 403
    [stats] = sim.connection_stats()
    assert stats["jwt_changes"] == 1
    assert client.tokens_minted == 2


async def test_expired_provider_token_answer_rebuilds_once(
    sim: APNsSimulator, make_client: ClientFactory, clock: ManualClock
) -> None:
    # The client's clock lags the simulator's by 2301 s, so its token is still
    # young by its own clock when APNs calls it expired: the 403 path.
    client_clock = ManualClock(clock())
    client = make_client(clock=client_clock)
    assert (await client.send_one(ALERT, secrets.token_hex(32))).ok
    clock.advance(3601)
    client_clock.advance(1300)
    result = await client.send(ALERT, tokens(40))
    assert result.ok
    assert max(r.attempts for r in result) == 2
    [stats] = sim.connection_stats()
    assert stats["jwt_changes"] == 1  # one new token for the whole burst of 403s
    assert client.tokens_minted == 2


async def test_too_many_provider_token_updates(
    sim: APNsSimulator, make_client: ClientFactory, clock: ManualClock
) -> None:
    client = make_client(max_retries=0)
    assert client._signer is not None
    client._signer.refresh_interval = 1.0  # bypass the [1200, 3300] clamp
    assert (await client.send_one(ALERT, secrets.token_hex(32))).ok
    clock.advance(10)
    outcome = await client.send_one(ALERT, secrets.token_hex(32))
    assert (outcome.status, outcome.reason, outcome.cause) == (
        Status.RETRY, "TooManyProviderTokenUpdates", Cause.AUTH
    )
    assert outcome.http_status == 429


@pytest.mark.parametrize(
    ("status", "reason"),
    [(429, "TooManyRequests"), (500, "InternalServerError"), (503, "ServiceUnavailable"), (503, "Shutdown")],
)
async def test_retried_then_success(
    sim: APNsSimulator, make_client: ClientFactory, status: int, reason: str
) -> None:
    sim.queue_error(status, reason, count=2)
    token = secrets.token_hex(32)
    outcome = await make_client(max_retries=3).send_one(ALERT, token)
    assert outcome.ok
    assert outcome.attempts == 3
    assert [e["token"] for e in sim.accepted] == [token]


async def test_retry_outcome_classification(sim: APNsSimulator, make_client: ClientFactory) -> None:
    client = make_client(max_retries=0)
    expected = {
        (429, "TooManyRequests"): Cause.THROTTLED,
        (500, "InternalServerError"): Cause.PROVIDER,
        (503, "Shutdown"): Cause.PROVIDER,
        (400, "IdleTimeout"): Cause.TRANSPORT,
    }
    for (status, reason), cause in expected.items():
        sim.queue_error(status, reason)
        outcome = await client.send_one(ALERT, secrets.token_hex(32))
        assert (outcome.status, outcome.cause, outcome.reason) == (Status.RETRY, cause, reason)


@pytest.mark.parametrize(
    ("status", "reason", "cause"),
    [
        (403, "InvalidProviderToken", Cause.CONFIG),
        (403, "BadEnvironmentKeyIdInToken", Cause.CONFIG),
        (400, "TopicDisallowed", Cause.CONFIG),
        (400, "BadTopic", Cause.CONFIG),
        (403, "BadCertificate", Cause.CONFIG),
        (400, "BadPriority", Cause.REQUEST),
        (413, "PayloadTooLarge", Cause.REQUEST),
        (403, "MissingProviderToken", Cause.REQUEST),
    ],
)
async def test_failed_classification(
    sim: APNsSimulator, make_client: ClientFactory, status: int, reason: str, cause: Cause
) -> None:
    sim.queue_error(status, reason)
    outcome = await make_client().send_one(ALERT, secrets.token_hex(32))
    assert (outcome.status, outcome.cause, outcome.reason) == (Status.FAILED, cause, reason)
    assert outcome.attempts == 1


async def test_real_config_error_from_simulator(sim: APNsSimulator, make_client: ClientFactory) -> None:
    outcome = await make_client(topic="com.not.mine").send_one(ALERT, secrets.token_hex(32))
    assert (outcome.status, outcome.cause, outcome.reason) == (Status.FAILED, Cause.CONFIG, "TopicDisallowed")


async def test_goaway_mid_bulk_send_loses_nothing(sim: APNsSimulator, make_client: ClientFactory) -> None:
    sim.set_max_concurrent_streams(100)
    sim.set_latency(0.001)
    sim.queue_fault(Fault(action="goaway", debug=b'{"reason":"Shutdown"}', count=3))
    targets = tokens(2000)
    result = await make_client(concurrency=500).send(ALERT, targets)
    assert result.ok, Counter((r.status, r.reason) for r in result)
    assert result.tokens == targets
    seen = Counter(entry["token"] for entry in sim.accepted)
    assert set(seen) == set(targets)
    assert max(seen.values()) == 1  # exactly once
    ids = {entry["token"]: entry["apns_id"] for entry in sim.accepted}
    assert all(ids[r.token] == r.message_id for r in result)  # apns-id kept across the resend
    assert len(sim.server.connections) >= 2


async def test_dropped_connection_loses_nothing(sim: APNsSimulator, make_client: ClientFactory) -> None:
    limit = 100
    sim.set_max_concurrent_streams(limit)
    sim.set_latency(0.001)
    sim.queue_fault(Fault(action="drop", count=1))
    targets = tokens(2000)
    result = await make_client(concurrency=500).send(ALERT, targets)
    assert result.ok, Counter((r.status, r.reason) for r in result)
    seen = Counter(entry["token"] for entry in sim.accepted)
    assert set(seen) == set(targets)
    duplicates = sum(n - 1 for n in seen.values())
    assert duplicates <= limit  # only requests in flight at the drop may have been processed twice
    ids = {entry["token"]: entry["apns_id"] for entry in sim.accepted}
    assert all(ids[r.token] == r.message_id for r in result)
    assert len(sim.server.connections) == 2


async def test_stream_limit_one_until_first_success(sim: APNsSimulator, make_client: ClientFactory) -> None:
    sim.set_max_concurrent_streams(20)
    sim.set_latency(0.002)
    result = await make_client(concurrency=200).send(ALERT, tokens(300))
    assert result.ok
    [stats] = sim.connection_stats()
    assert stats["peak_before_raise"] == 1
    assert 1 < stats["peak_inflight"] <= 20


async def test_certificate_auth(sim: APNsSimulator, ca_file: Path, tmp_path: Path) -> None:
    issued = sim.issue_certificate("com.cert.app")
    combined = tmp_path / "push.pem"
    combined.write_text(issued["cert"] + issued["key"])
    client = APNs(cert_file=combined, base_url=sim.url, ca_file=ca_file)
    try:
        assert client.topic == "com.cert.app"
        outcome = await client.send_one(Notification(body="x", push_type="voip"), secrets.token_hex(32))
        assert outcome.ok
        assert sim.accepted[-1]["topic"] == "com.cert.app.voip"
        assert "authorization" not in sim.accepted[-1]["headers"]
        assert client.tokens_minted == 0
    finally:
        await client.aclose()


async def test_certificate_wrong_environment(sim: APNsSimulator, ca_file: Path, tmp_path: Path) -> None:
    issued = sim.issue_certificate("com.cert.app", environment="sandbox")
    (tmp_path / "c.pem").write_text(issued["cert"])
    (tmp_path / "k.pem").write_text(issued["key"])
    client = APNs(
        cert_file=tmp_path / "c.pem", key_file=tmp_path / "k.pem", base_url=sim.url, ca_file=ca_file
    )
    try:
        outcome = await client.send_one(ALERT, secrets.token_hex(32))
    finally:
        await client.aclose()
    assert (outcome.status, outcome.cause, outcome.reason) == (
        Status.FAILED, Cause.CONFIG, "BadCertificateEnvironment"
    )


def test_configuration_errors(demo: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs credentials"):
        APNs(topic="com.example.app")
    with pytest.raises(ConfigurationError, match="not both"):
        APNs(key=demo["key"], key_id="KEYID00001", team_id="TEAM000001", topic="t",
             cert_file=tmp_path / "c.pem")
    with pytest.raises(ConfigurationError, match="key_id"):
        APNs(key=demo["key"], team_id="TEAM000001", topic="t")
    with pytest.raises(ConfigurationError, match="topic"):
        APNs(key=demo["key"], key_id="KEYID00001", team_id="TEAM000001")
    secret = "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ConfigurationError) as info:
        APNs(key=secret, key_id="KEYID00001", team_id="TEAM000001", topic="t")
    assert "TOPSECRET" not in str(info.value)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        APNs(key=tmp_path / "missing.p8", key_id="KEYID00001", team_id="TEAM000001", topic="t")
    with pytest.raises(ConfigurationError, match="environment"):
        APNs(key=demo["key"], key_id="KEYID00001", team_id="TEAM000001", topic="t",
             environment="staging")  # type: ignore[arg-type]  # refused
    for field in ("key_id", "team_id"):  # Apple's ids are 10 letters and digits
        ids = {"key_id": "KEYID00001", "team_id": "TEAM000001", field: "SHORT1"}
        with pytest.raises(ConfigurationError, match=rf"^{field}: .*10 letters and digits"):
            APNs(key=demo["key"], key_id=ids["key_id"], team_id=ids["team_id"], topic="t")


def test_hosts_and_repr(demo: dict[str, Any]) -> None:
    sandbox = APNs(key=demo["key"], key_id="KEYID00001", team_id="TEAM000001", topic="t",
                   environment="sandbox", alternative_port=True)
    assert sandbox.base_url == "https://api.sandbox.push.apple.com:2197"
    production = APNs(key=demo["key"], key_id="KEYID00001", team_id="TEAM000001", topic="t")
    assert production.base_url == "https://api.push.apple.com:443"
    assert "PRIVATE" not in repr(production)
    assert "KEYID00001" in repr(production)
    assert repr(production._signer).count("TEAM000001") == 1


async def test_key_from_file(sim: APNsSimulator, make_client: ClientFactory, demo: dict[str, Any],
                             tmp_path: Path) -> None:
    path = tmp_path / "AuthKey.p8"
    path.write_text(demo["key"])
    for key in (path, str(path), demo["key"].encode()):
        assert (await make_client(key=key).send_one(ALERT, secrets.token_hex(32))).ok


async def test_payload_too_large_raises_before_sending(
    sim: APNsSimulator, make_client: ClientFactory
) -> None:
    big = Notification(title="T", body="x" * 5000)
    with pytest.raises(PayloadTooLarge):
        await make_client().send(big, tokens(5))
    assert sim.requests == 0
    result = await make_client(max_payload_size=4096).send(big, tokens(2))
    assert result.ok
    assert all(len(e["payload"]["aps"]["alert"]["body"]) < 5000 for e in sim.accepted)


@pytest.mark.parametrize("push_type", sorted(TOPIC_SUFFIXES))
async def test_push_types_topics_and_priorities(
    sim: APNsSimulator, make_client: ClientFactory, push_type: str
) -> None:
    notification = Notification.model_validate({"body": "x", "push_type": push_type})
    assert (await make_client().send_one(notification, secrets.token_hex(32))).ok
    headers = sim.accepted[-1]["headers"]
    assert headers["apns-push-type"] == push_type
    assert headers["apns-topic"] == "com.example.app" + TOPIC_SUFFIXES[push_type]
    assert headers["apns-priority"] == ("5" if push_type == "background" else "10")


async def test_headers_on_the_wire(
    sim: APNsSimulator, make_client: ClientFactory, clock: ManualClock
) -> None:
    n = Notification(body="x", ttl=600, collapse_key="score", priority=Priority.LOW)
    assert (await make_client().send_one(n, secrets.token_hex(32))).ok
    headers = sim.accepted[-1]["headers"]
    assert headers["apns-expiration"] == str(int(clock()) + 600)
    assert headers["apns-collapse-id"] == "score"
    assert headers["apns-priority"] == "1"
    silent = Notification(silent=True, data={"sync": 1})
    assert (await make_client().send_one(silent, secrets.token_hex(32))).ok
    assert sim.accepted[-1]["headers"]["apns-push-type"] == "background"
    assert sim.accepted[-1]["headers"]["apns-priority"] == "5"
    assert sim.accepted[-1]["payload"] == {"aps": {"content-available": 1}, "sync": 1}


async def test_per_token_badge(sim: APNsSimulator, make_client: ClientFactory) -> None:
    targets = tokens(3)
    badges = dict(zip(targets, (1, 2, 2), strict=True))
    assert (await make_client().send(ALERT, targets, badge=badges.__getitem__)).ok
    assert {e["token"]: e["payload"]["aps"]["badge"] for e in sim.accepted} == badges


async def test_mass_bad_device_token_warns(
    sim: APNsSimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sim.accept_any_token = False
    with caplog.at_level(logging.WARNING, logger="pushgate.apns"):
        result = await make_client().send(ALERT, tokens(60))
    assert len(result.dead_tokens) == 60
    warnings = [r for r in caplog.records if "BadDeviceToken" in r.getMessage()]
    assert len(warnings) == 1
    assert "production" in warnings[0].getMessage()


@pytest.mark.slow
async def test_bulk_send_10000(sim: APNsSimulator, make_client: ClientFactory) -> None:
    targets = tokens(10_000)
    result = await make_client().send(ALERT, targets)
    assert len(result) == 10_000
    assert result.ok
    assert sim.accepted_count == 10_000


async def test_no_alpn_client_is_served(sim: APNsSimulator, make_client: ClientFactory,
                                        local_ca: LocalCA) -> None:
    # aioapns-style: no ALPN offered, HTTP/2 spoken straight away (docs/protocols/apns.md §8).
    context = local_ca.client_context(alpn=())
    outcome = await make_client(ssl_context=context, ca_file=None).send_one(ALERT, secrets.token_hex(32))
    assert outcome.ok


async def test_server_without_http2_is_a_config_failure(
    sim: APNsSimulator, make_client: ClientFactory, local_ca: LocalCA
) -> None:
    context = local_ca.client_context(alpn=("http/1.1",))  # the server must then pick HTTP/1.1
    outcome = await make_client(ssl_context=context, ca_file=None).send_one(ALERT, secrets.token_hex(32))
    assert (outcome.status, outcome.cause) == (Status.FAILED, Cause.CONFIG)
    assert outcome.reason == "HTTP2NotNegotiated"
    assert sim.requests == 0


async def test_bad_message_id_fails_without_a_request(sim: APNsSimulator, make_client: ClientFactory) -> None:
    token = secrets.token_hex(32)
    result = await make_client().send_messages([Message(token, ALERT, "id\r\ninjected: 1"),
                                                Message(token, ALERT, "12345")])
    expected = (Status.FAILED, "BadMessageId", Cause.REQUEST)
    assert [(r.status, r.reason, r.cause) for r in result] == [expected, expected]
    assert sim.requests == 0


async def test_reset_stream_is_retried(sim: APNsSimulator, make_client: ClientFactory) -> None:
    sim.queue_fault(Fault(action="reset"))
    token = secrets.token_hex(32)
    outcome = await make_client().send_one(ALERT, token)
    assert outcome.ok
    assert [e["token"] for e in sim.accepted] == [token]


async def test_idle_connection_goaway_reconnects(
    sim: APNsSimulator, make_client: ClientFactory, clock: ManualClock
) -> None:
    sim.idle_timeout = 600
    client = make_client()
    assert (await client.send_one(ALERT, secrets.token_hex(32))).ok
    clock.advance(601)
    outcome = await client.send_one(ALERT, secrets.token_hex(32))
    assert outcome.ok
    assert len(sim.server.connections) == 2
    assert sim.accepted[-1]["apns_id"] == outcome.message_id
