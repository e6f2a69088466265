"""The FCM client against the simulator: real TLS, HTTP/2, real OAuth (docs/protocols/fcm.md §6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

from pushgate.errors import ConfigurationError, InvalidNotification, PayloadTooLarge
from pushgate.notification import Notification
from pushgate.providers import Message
from pushgate.providers.fcm.client import FCM, _failure
from pushgate.results import Cause, Status
from pushgate.simulators._base import Fault, ManualClock
from pushgate.simulators.fcm import FCMSimulator
from pushgate.transport import ConnectionLost, HTTP2NotNegotiated

MakeClient = Callable[..., Awaitable[FCM]]
NOTE = Notification(title="Hello", body="World", data={"n": 1})


async def test_bulk_send_reuses_one_oauth_token(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client()
    tokens = [f"device-{i}" for i in range(200)]
    result = await fcm.send(NOTE, tokens)
    assert result.ok
    assert [r.token for r in result] == tokens
    assert all(r.message_id and r.message_id.startswith("projects/demo-project/messages/") for r in result)
    assert fcm.auth.refreshes == 1
    assert sim.oauth.issued == 1
    assert len(sim.accepted) == 200
    assert {entry["http_version"] for entry in sim.accepted} == {"2"}
    assert sim.accepted[0]["message"]["data"] == {"n": "1"}  # data values go as strings
    assert sim.accepted[0]["message"]["notification"] == {"title": "Hello", "body": "World"}


async def test_token_is_refreshed_after_expiry(make_client: MakeClient, clock: ManualClock) -> None:
    fcm = await make_client()
    assert (await fcm.send_one(NOTE, "a")).ok
    clock.advance(3599)  # past the token's life: the client must not use it
    assert (await fcm.send_one(NOTE, "a")).ok
    assert fcm.auth.refreshes == 2


async def test_401_refreshes_and_retries(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client(max_retries=1)
    assert (await fcm.send_one(NOTE, "a")).ok
    sim.revoke_access_tokens()
    result = await fcm.send(NOTE, ["a", "b", "c"])
    assert result.ok, result.results
    assert [r.attempts for r in result] == [2, 2, 2]
    assert fcm.auth.refreshes == 2  # one refresh shared by the three 401s


async def test_401_without_retries_is_retry_auth(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client()
    sim.inject_error(401)
    result = await fcm.send_one(NOTE, "a")
    assert (result.status, result.cause, result.retry_after, result.http_status) == (
        Status.RETRY, Cause.AUTH, 0.0, 401
    )


async def test_second_401_for_the_same_message_is_config(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client(max_retries=3)
    sim.inject_error(401, count=2)
    result = await fcm.send_one(NOTE, "a")
    assert (result.status, result.cause, result.attempts) == (Status.FAILED, Cause.CONFIG, 2)
    assert "freshly fetched" in (result.detail or "")
    assert (await fcm.send_one(NOTE, "a")).ok  # the next message starts afresh


async def test_dead_tokens(make_client: MakeClient, sim: FCMSimulator) -> None:
    unregistered = sim.register_token(state="unregistered")
    invalid = sim.register_token(state="invalid")
    mismatch = sim.register_token(project_id="someone-else")
    disabled = sim.register_token(platform="ios", state="apns_disabled")
    apns_gone = sim.register_token(platform="ios", state="apns_unregistered")
    alive = sim.register_token()
    fcm = await make_client()
    tokens = [unregistered, invalid, mismatch, disabled, apns_gone, alive, "not a token!"]
    result = await fcm.send(NOTE, tokens)
    outcome = {r.token: r for r in result}
    assert result.dead_tokens == [t for t in tokens if t != alive]
    assert outcome[alive].ok
    assert (outcome[unregistered].reason, outcome[unregistered].http_status) == ("UNREGISTERED", 404)
    assert (outcome[mismatch].reason, outcome[mismatch].http_status) == ("SENDER_ID_MISMATCH", 403)
    assert outcome[invalid].http_status == 400
    assert outcome[disabled].reason == "Unregistered"  # the relayed ApnsError decides
    assert outcome[apns_gone].reason == "Unregistered"
    assert outcome["not a token!"].http_status is None  # refused before sending
    assert len(sim.accepted) == 1


async def test_third_party_auth_error_is_config(make_client: MakeClient, sim: FCMSimulator) -> None:
    token = sim.register_token(platform="ios", state="apns_auth_error")
    result = await (await make_client()).send_one(NOTE, token)
    assert (result.status, result.cause, result.reason) == (
        Status.FAILED, Cause.CONFIG, "THIRD_PARTY_AUTH_ERROR"
    )
    assert result.http_status == 401
    assert "Auth error from APNS" in (result.detail or "")


async def test_quota_429_waits_at_least_a_minute(make_client: MakeClient, sim: FCMSimulator) -> None:
    sim.set_quotas(device_per_minute=1)
    fcm = await make_client()
    assert (await fcm.send_one(NOTE, "busy")).ok
    result = await fcm.send_one(NOTE, "busy")
    assert (result.status, result.cause, result.reason) == (Status.RETRY, Cause.THROTTLED, "QUOTA_EXCEEDED")
    assert result.retry_after is not None
    assert result.retry_after >= 60
    sim.set_quotas(project_per_minute=0)
    project = await fcm.send_one(NOTE, "other")
    assert project.status is Status.RETRY
    assert project.retry_after is not None
    assert project.retry_after >= 60


async def test_503_retry_after_seconds_then_success(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client(max_retries=1)
    sim.inject_error(503, retry_after=0)
    result = await fcm.send_one(NOTE, "a")
    assert (result.status, result.attempts) == (Status.SENT, 2)
    waiting = await make_client()
    sim.inject_error(503, retry_after=120)
    late = await waiting.send_one(NOTE, "a")
    assert (late.status, late.cause, late.retry_after, late.reason) == (
        Status.RETRY, Cause.PROVIDER, 120.0, "UNAVAILABLE"
    )


async def test_503_retry_after_http_date(
    make_client: MakeClient, sim: FCMSimulator, clock: ManualClock
) -> None:
    fcm = await make_client(max_retries=1)
    now = datetime.fromtimestamp(clock(), UTC)
    sim.inject_error(503, retry_after=format_datetime(now, usegmt=True))
    result = await fcm.send_one(NOTE, "a")
    assert (result.status, result.attempts) == (Status.SENT, 2)
    waiting = await make_client()
    later = datetime.fromtimestamp(clock() + 30, UTC)
    sim.inject_error(503, retry_after=format_datetime(later, usegmt=True))
    late = await waiting.send_one(NOTE, "a")
    assert late.status is Status.RETRY
    assert late.retry_after is not None
    assert 29 < late.retry_after <= 30


async def test_500_is_retried(make_client: MakeClient, sim: FCMSimulator) -> None:
    sim.inject_error(500)
    result = await (await make_client()).send_one(NOTE, "a")
    assert (result.status, result.cause, result.reason) == (Status.RETRY, Cause.PROVIDER, "INTERNAL")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"android": {"ttl": "soon"}}, "message.android.ttl"),
        ({"android": {"priority": "urgent"}}, "message.android.priority"),
        ({"webpush": {"fcm_options": {"link": "http://insecure.example"}}},
         "message.webpush.fcm_options.link"),
        ({"surprise": True}, "message"),
    ],
)
async def test_validation_errors_are_failed_request(
    make_client: MakeClient, override: dict[str, Any], field: str
) -> None:
    result = await (await make_client()).send_one(Notification(title="t", fcm=override), "a")
    assert (result.status, result.cause, result.http_status) == (Status.FAILED, Cause.REQUEST, 400)
    assert field in (result.detail or "")


async def test_topic_and_condition(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client()
    topic = await fcm.send_to_topic(NOTE, "/topics/news")
    assert topic.ok
    assert topic.token == "news"
    condition = "'news' in topics && !('muted' in topics)"
    assert (await fcm.send_to_condition(NOTE, condition)).ok
    assert [(e["target"], e["to"]) for e in sim.accepted] == [("topic", "news"), ("condition", condition)]
    with pytest.raises(InvalidNotification):
        await fcm.send_to_topic(NOTE, "bad topic")
    with pytest.raises(InvalidNotification):
        await fcm.send_to_condition(NOTE, "'a' in topics &&")
    big = Notification(title="t", body="x" * 3000)
    assert (await fcm.send_one(big, "a")).ok  # fits the 4096 token limit
    with pytest.raises(PayloadTooLarge) as info:
        await fcm.send_to_topic(big, "news")
    assert info.value.limit == 2048


async def test_validate_only(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client(validate_only=True)
    result = await fcm.send_one(NOTE, "a")
    assert result.ok
    assert result.message_id == "projects/demo-project/messages/fake_message_id"
    assert (await fcm.send_to_topic(NOTE, "news")).ok
    assert sim.accepted == []


async def test_too_large_raises_before_sending_and_trimming_fits(
    make_client: MakeClient, sim: FCMSimulator
) -> None:
    huge = Notification(title="t", body="ß" * 4000)
    fcm = await make_client()
    with pytest.raises(PayloadTooLarge):
        await fcm.send(huge, ["a", "b"])
    assert sim.requests == 0  # not even the token endpoint
    trimming = await make_client(max_payload_size=4096)
    assert (await trimming.send_one(huge, "a")).ok
    body = sim.accepted[0]["message"]["notification"]["body"]
    assert body.endswith("…")
    assert len(body) > 1000


async def test_bulk_send_of_5000_multiplexes_one_connection(
    make_client: MakeClient, sim: FCMSimulator
) -> None:
    fcm = await make_client(concurrency=1000)
    tokens = [f"bulk-{i}" for i in range(5000)]
    result = await fcm.send(NOTE, tokens)
    assert result.ok
    assert len(sim.accepted) == 5000
    [connection] = [c for c in sim.server.connections if c.http_version == "2"]
    assert connection.requests == 5000
    assert fcm.pool.connections_opened == 1


async def test_transport_failures_are_retry(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client()
    assert (await fcm.send_one(NOTE, "warm")).ok
    for action in ("drop", "reset"):
        sim.queue_fault(Fault(action=action, path_contains="messages:send"))
        result = await fcm.send_one(NOTE, "a")
        assert (result.status, result.cause) == (Status.RETRY, Cause.TRANSPORT), action
    assert (await fcm.send_one(NOTE, "a")).ok  # a new connection


def test_a_server_without_http2_is_configuration_not_retried() -> None:
    result = _failure("t", HTTP2NotNegotiated("the server answered in HTTP/1.x"))
    assert (result.status, result.cause, result.reason) == (Status.FAILED, Cause.CONFIG, "HTTP2NotNegotiated")
    assert _failure("t", ConnectionLost("dropped")).status is Status.RETRY


async def test_goaway_is_resent_transparently(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client()
    assert (await fcm.send_one(NOTE, "warm")).ok
    sim.queue_fault(Fault(action="goaway", path_contains="messages:send"))
    assert (await fcm.send_one(NOTE, "a")).ok


async def test_non_json_error_bodies(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client()
    sim.queue_fault(Fault(status=502, body=b"<html>Bad Gateway</html>", path_contains="messages:send"))
    sim.queue_fault(Fault(status=400, body=b"garbage", path_contains="messages:send"))
    gateway = await fcm.send_one(NOTE, "a")
    assert (gateway.status, gateway.cause, gateway.http_status) == (Status.RETRY, Cause.PROVIDER, 502)
    garbage = await fcm.send_one(NOTE, "a")
    assert (garbage.status, garbage.cause, garbage.detail) == (Status.FAILED, Cause.REQUEST, "garbage")


async def test_bad_credentials_fail_every_token_with_one_token_request(
    make_client: MakeClient, sim: FCMSimulator, service_account: dict[str, Any]
) -> None:
    other = FCMSimulator(ca=None, tls=False).create_service_account("demo-project")
    forged = {**service_account, "private_key": other["private_key"]}
    fcm = await make_client(service_account=forged)
    result = await fcm.send(NOTE, [f"d{i}" for i in range(50)])
    assert {(r.status, r.cause, r.reason) for r in result} == {
        (Status.FAILED, Cause.CONFIG, "AuthenticationError")
    }
    assert sim.requests == 1
    assert "PRIVATE KEY" not in repr(fcm) + repr(fcm.auth) + str(result.results[0].detail)


async def test_per_token_badge_and_mixed_messages(make_client: MakeClient, sim: FCMSimulator) -> None:
    fcm = await make_client()
    badges = {"a": 1, "b": 2, "c": 1}
    assert (await fcm.send(Notification(title="t"), list(badges), badge=badges.__getitem__)).ok
    counts = {e["to"]: e["message"]["android"]["notification"]["notification_count"] for e in sim.accepted}
    assert counts == badges
    sim.accepted.clear()
    result = await fcm.send_messages([
        Message("x", Notification(title="one")),
        Message("y", Notification(title="two", data={"from": "reserved"})),
        Message("z", Notification(silent=True, data={"k": [1, 2]})),
    ])
    assert [r.status for r in result] == [Status.SENT, Status.FAILED, Status.SENT]
    assert result.results[1].cause is Cause.REQUEST
    silent = sim.messages_for("z")[0]["message"]
    assert silent["data"] == {"k": "[1,2]"}
    assert "notification" not in silent
    assert silent["apns"]["payload"]["aps"] == {"content-available": 1}


def test_configuration_errors(demo_account: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        FCM(demo_account, base_url="ftp://example.com")
    with pytest.raises(ConfigurationError, match="project_id"):
        FCM({**demo_account, "project_id": None})
    assert FCM(demo_account, project_id="other").project_id == "other"


async def test_plaintext_simulator_over_h2c(demo_account: dict[str, Any], clock: ManualClock) -> None:
    """``pushgate simulate --plaintext``: HTTP/2 with prior knowledge and a plain token endpoint."""
    sim = FCMSimulator(tls=False, clock=clock, service_account=demo_account)
    url = await sim.start()
    fcm = FCM(sim.demo_credentials()["service_account"], base_url=url, clock=clock, max_retries=0)
    try:
        assert url.startswith("http://")
        sim.register_token("a")
        sim.register_token("b")
        assert (await fcm.send(NOTE, ["a", "b"])).ok
        assert {entry["http_version"] for entry in sim.accepted} == {"2"}
    finally:
        await fcm.aclose()
        await sim.stop()
