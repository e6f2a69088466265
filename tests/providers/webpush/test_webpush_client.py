"""The WebPush client against the simulator over TLS and HTTP/2 (HTTP/1.1 for
the fallback): outcomes per docs/protocols/webpush.md §6, VAPID renewal on a manual
clock, the endpoint allow-list, and a bulk send decrypted message by message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from pushgate.crypto.vapid import VapidKey, b64url_decode
from pushgate.errors import ConfigurationError, InvalidToken, PayloadTooLarge
from pushgate.notification import Notification, Priority
from pushgate.providers.webpush.client import DEFAULT_ALLOWED_HOSTS, Subscription, WebPush
from pushgate.results import Cause, Status
from pushgate.simulators._base import Fault, ManualClock
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.webpush import WebPushSimulator

HELLO = Notification(title="Hello", body="from pushgate", data={"n": 1})


async def test_success_with_location_and_decrypted_payload(sim: WebPushSimulator, client: WebPush) -> None:
    subscription = sim.subscribe()
    result = await client.send_one(HELLO, subscription)
    assert result.status is Status.SENT
    assert result.http_status == 201
    assert result.message_id is not None
    assert result.message_id.startswith(sim.origin + "/m/")
    assert result.token == subscription["endpoint"]
    (record,) = sim.accepted
    assert record["payload"] == {"title": "Hello", "body": "from pushgate", "data": {"n": 1}}
    assert record["http_version"] == "2"
    assert record["headers"]["ttl"] == "2419200"
    assert record["headers"]["content-encoding"] == "aes128gcm"
    assert record["vapid"]["claims"]["sub"] == "mailto:ops@example.com"
    assert record["vapid"]["claims"]["aud"] == sim.origin


async def test_token_forms(sim: WebPushSimulator, client: WebPush) -> None:
    as_dict = sim.subscribe()
    as_text = json.dumps(sim.subscribe())
    as_object = Subscription.from_json(sim.subscribe())
    flat = sim.subscribe()
    flat_form = {"endpoint": flat["endpoint"], **flat["keys"]}
    result = await client.send(HELLO, [as_dict, as_text, as_object, flat_form])
    assert result.ok
    assert result.tokens[2] == as_object.endpoint
    assert result.tokens[1] == json.loads(as_text)["endpoint"]


async def test_headers_from_the_notification(sim: WebPushSimulator, client: WebPush) -> None:
    subscription = sim.subscribe()
    n = Notification(title="x", ttl=600, priority=Priority.HIGH, collapse_key="frenz-ai-done")
    assert (await client.send_one(n, subscription)).ok
    record = sim.accepted[0]
    assert (record["ttl"], record["urgency"]) == (600, "high")
    assert record["topic"] is not None
    assert len(record["topic"]) == 32


@pytest.mark.parametrize("mode", ["autopush", "apple", "fcm"])
async def test_unknown_and_gone_subscriptions_are_dead(
    sim: WebPushSimulator, client: WebPush, mode: str
) -> None:
    sim.set_mode(mode)
    gone = sim.subscribe()
    sim.unsubscribe(gone["endpoint"])
    expired = sim.subscribe()
    sim.expire(expired["endpoint"])
    unknown = dict(sim.subscribe(), endpoint=sim.origin + "/wpush/v1/forgotten")
    result = await client.send(HELLO, [gone, expired, unknown])
    assert [r.status for r in result] == [Status.DEAD] * 3
    assert [r.http_status for r in result] == [410, 410, 404]
    assert result.dead_tokens == [gone["endpoint"], expired["endpoint"], unknown["endpoint"]]
    if mode == "apple":
        assert [r.reason for r in result] == ["Unregistered", "ExpiredToken", "BadDeviceToken"]
    if mode == "autopush":
        assert result.results[0].detail is not None
        assert result.results[0].detail.startswith("errno 106")


async def test_429_with_retry_after_is_retried(sim: WebPushSimulator, client: WebPush) -> None:
    sim.queue_fault(Fault(status=429, headers=[("retry-after", "0")]))
    result = await client.send_one(HELLO, sim.subscribe())
    assert result.status is Status.SENT
    assert result.attempts == 2


async def test_429_outcome_carries_retry_after(sim: WebPushSimulator, client: WebPush) -> None:
    subscription = sim.subscribe()
    sim.set_rate_limit(1, window=60)
    assert (await client.send_one(HELLO, subscription)).ok
    client.max_retries = 0
    limited = await client.send_one(HELLO, subscription)
    assert (limited.status, limited.cause, limited.http_status) == (Status.RETRY, Cause.THROTTLED, 429)
    assert limited.retry_after == 60.0


async def test_5xx_is_retried(sim: WebPushSimulator, client: WebPush, clock: ManualClock) -> None:
    sim.queue_fault(Fault(status=503, headers=[("retry-after", "0")]))
    sim.queue_fault(Fault(status=500))
    result = await client.send_one(HELLO, sim.subscribe())
    assert (result.status, result.attempts) == (Status.SENT, 3)
    client.max_retries = 0
    sim.queue_fault(Fault(status=503, headers=[("retry-after", "Thu, 01 Jan 2099 00:00:00 GMT")]))
    unavailable = await client.send_one(HELLO, sim.subscribe())
    assert (unavailable.status, unavailable.cause) == (Status.RETRY, Cause.PROVIDER)
    assert unavailable.retry_after is not None
    assert unavailable.retry_after > 3600


async def test_dropped_connection_is_a_transport_retry(sim: WebPushSimulator, client: WebPush) -> None:
    sim.queue_fault(Fault(action="drop"))
    result = await client.send_one(HELLO, sim.subscribe())
    assert (result.status, result.attempts) == (Status.SENT, 2)
    client.max_retries = 0
    sim.queue_fault(Fault(action="drop"))
    failed = await client.send_one(HELLO, sim.subscribe())
    assert (failed.status, failed.cause) == (Status.RETRY, Cause.TRANSPORT)


@pytest.mark.parametrize(("mode", "status", "reason"), [("autopush", 401, "VapidKeyMismatch"),
                                                         ("apple", 403, "VapidPkHashMismatch"),
                                                         ("fcm", 403, "VapidKeyMismatch")])
async def test_restricted_subscription_key_mismatch_is_dead_for_this_key(
    sim: WebPushSimulator, client: WebPush, mode: str, status: int, reason: str
) -> None:
    # A subscription made with another application server key can never take this one
    # (RFC 8292 §4.2): that subscription is dead, cause CONFIG (docs/protocols/webpush.md §6).
    sim.set_mode(mode)
    bound_elsewhere = sim.subscribe(VapidKey.generate().application_server_key)
    result = await client.send_one(HELLO, bound_elsewhere)
    assert (result.status, result.cause, result.http_status, result.reason) == (
        Status.DEAD, Cause.CONFIG, status, reason
    )
    assert result.attempts == 1  # not retried
    assert sim.accepted == []


@pytest.mark.parametrize("mode", ["autopush", "apple", "fcm"])
async def test_vapid_refused_for_every_subscription_stays_config(
    sim: WebPushSimulator, vapid_key: VapidKey, ca_file: Path, allowed: list[str], clock: ManualClock,
    mode: str,
) -> None:
    # A JWT the service refuses (here: expired by its clock) is the app's credentials, not one
    # subscription's binding: FAILED with cause CONFIG, whatever the service's wording.
    sim.set_mode(mode)
    behind = ManualClock(clock() - 2 * 86400)
    async with WebPush(vapid_private_key=vapid_key, vapid_subject="mailto:ops@example.com",
                       allowed_hosts=allowed, ca_file=ca_file, clock=behind) as client:
        result = await client.send_one(HELLO, sim.subscribe(vapid_key.application_server_key))
    assert (result.status, result.cause) == (Status.FAILED, Cause.CONFIG)


async def test_restricted_subscription_with_our_key(
    sim: WebPushSimulator, client: WebPush, vapid_key: VapidKey
) -> None:
    sim.set_mode("apple")
    result = await client.send_one(HELLO, sim.subscribe(vapid_key.application_server_key))
    assert result.ok
    assert "/wpush/v2/" in result.token


async def test_vapid_rejected_for_clock_skew_is_config(
    sim: WebPushSimulator, vapid_key: VapidKey, ca_file: Path, allowed: list[str], clock: ManualClock
) -> None:
    behind = ManualClock(clock() - 2 * 86400)  # our JWT expired before the service's "now"
    async with WebPush(vapid_private_key=vapid_key, vapid_subject="mailto:ops@example.com",
                       allowed_hosts=allowed, ca_file=ca_file, clock=behind) as client:
        result = await client.send_one(HELLO, sim.subscribe())
        assert (result.status, result.cause, result.http_status) == (Status.FAILED, Cause.CONFIG, 401)
        behind.now = clock()  # clocks agree again: the stale JWT is replaced
        assert (await client.send_one(HELLO, sim.subscribe())).ok


async def test_expiring_vapid_jwt_is_renewed(
    sim: WebPushSimulator, client: WebPush, clock: ManualClock
) -> None:
    subscription = sim.subscribe()
    assert (await client.send_one(HELLO, subscription)).ok
    clock.advance(6 * 3600)
    assert (await client.send_one(HELLO, subscription)).ok
    assert client.vapid.signed == 1  # six hours left: reused
    clock.advance(5.5 * 3600)  # half an hour left: a new JWT
    assert (await client.send_one(HELLO, subscription)).ok
    clock.advance(13 * 3600)  # the second JWT has expired too
    assert (await client.send_one(HELLO, subscription)).ok
    assert client.vapid.signed == 3
    expiries = [r["vapid"]["claims"]["exp"] for r in sim.accepted]
    assert expiries[0] == expiries[1] < expiries[2] < expiries[3]


async def test_topic_replaces_a_waiting_message(sim: WebPushSimulator, client: WebPush) -> None:
    subscription = sim.subscribe()
    sim.set_online(False)
    for score in ("1:0", "2:0"):
        n = Notification(title="Score", body=score, collapse_key="match-42")
        assert (await client.send_one(n, subscription)).ok
    (waiting,) = sim.pending(subscription["endpoint"])
    assert waiting["payload"]["body"] == "2:0"
    assert sim.accepted[0]["status"] == "replaced"
    sim.set_online(True)
    assert [r["payload"]["body"] for r in sim.inbox(subscription["endpoint"])] == ["2:0"]


async def test_disallowed_endpoint_makes_no_request(
    sim: WebPushSimulator, vapid_key: VapidKey, ca_file: Path, clock: ManualClock
) -> None:
    subscription = sim.subscribe()
    async with WebPush(vapid_private_key=vapid_key, vapid_subject="mailto:ops@example.com",
                       ca_file=ca_file, clock=clock) as client:  # default allow-list: browsers only
        before = sim.requests
        result = await client.send_one(HELLO, subscription)
        assert (result.status, result.cause) == (Status.FAILED, Cause.REQUEST)
        assert result.reason == "DisallowedEndpoint"
        assert result.attempts == 1
        assert sim.requests == before
        assert client._origins == {}  # no connection was even set up
    port = urlsplit(sim.url).port
    async with WebPush(vapid_private_key=vapid_key, vapid_subject="mailto:ops@example.com",
                       allowed_hosts=[f"localhost:{port}"], ca_file=ca_file, clock=clock) as client:
        assert (await client.send_one(HELLO, subscription)).reason == "DisallowedEndpoint"


@pytest.mark.parametrize(("netloc", "shown"), [("[::1]:8443", "[::1]:8443"), ("[0:0::1]", "[0:0::1]:443"),
                                              ("127.0.0.1:8443", "127.0.0.1:8443")])
async def test_a_refused_endpoint_names_its_host_and_port_readably(
    sim: WebPushSimulator, vapid_key: VapidKey, ca_file: Path, clock: ManualClock,
    caplog: pytest.LogCaptureFixture, netloc: str, shown: str,
) -> None:
    # An IPv6 host in brackets, as in a URL: "::1:8443" would read as another address.
    subscription = sim.subscribe()
    endpoint = f"https://{netloc}{urlsplit(subscription['endpoint']).path}"
    async with WebPush(vapid_private_key=vapid_key, vapid_subject="mailto:ops@example.com",
                       ca_file=ca_file, clock=clock) as client:
        with caplog.at_level("WARNING", logger="pushgate"):
            result = await client.send_one(HELLO, {**subscription, "endpoint": endpoint})
    assert result.reason == "DisallowedEndpoint"
    assert result.detail == f"{shown} is not on the allow-list"
    assert [r.getMessage() for r in caplog.records] == [
        f"refusing endpoint on {shown} (not an allowed push service)"]


def test_allow_list_rules() -> None:
    from pushgate.providers.webpush.subscription import AllowList

    default = AllowList(DEFAULT_ALLOWED_HOSTS)
    assert default.allows("fcm.googleapis.com", 443)
    assert default.allows("WNS2-BY3P.notify.windows.com.", 443)
    assert default.allows("web.push.apple.com", 443)
    assert not default.allows("fcm.googleapis.com", 8443)
    assert not default.allows("notify.windows.com", 443)
    assert not default.allows("evilnotify.windows.com", 443)
    assert not default.allows("fcm.googleapis.com.evil.example", 443)
    assert not default.allows("169.254.169.254", 443)
    custom = AllowList(["127.0.0.1:8443", "[::1]:9000", "*.push.example.net:444"])
    assert custom.allows("127.0.0.1", 8443)
    assert not custom.allows("127.0.0.1", 443)
    assert custom.allows("::1", 9000)
    assert custom.allows("a.push.example.net", 444)
    with pytest.raises(ValueError, match="allowed_hosts"):
        AllowList([":80"])


def test_subscription_validation() -> None:
    good: dict[str, Any] = {"endpoint": "https://fcm.googleapis.com/wp/abc", "expirationTime": None,
            "keys": {"p256dh": VapidKey.generate().application_server_key, "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}
    sub = Subscription.from_json(good)
    assert (sub.origin, sub.path, sub.port) == ("https://fcm.googleapis.com", "/wp/abc", 443)
    assert sub.to_json() == good
    assert "BTBZMqHH6r4Tts7J_aSIgg" not in repr(sub)
    bad_cases: list[Any] = [
        dict(good, endpoint="http://fcm.googleapis.com/wp/abc"),
        dict(good, endpoint="not a url"),
        dict(good, keys={"p256dh": good["keys"]["p256dh"][:-2], "auth": "BTBZMqHH6r4Tts7J_aSIgg"}),
        dict(good, keys={"p256dh": good["keys"]["p256dh"], "auth": "c2hvcnQ"}),
        dict(good, keys={"p256dh": "B" + "A" * 86, "auth": "BTBZMqHH6r4Tts7J_aSIgg"}),
        dict(good, expirationTime="tomorrow"),
        {"endpoint": "https://fcm.googleapis.com/wp/abc"},
        "{not json",
        [1, 2],
    ]
    for bad in bad_cases:
        with pytest.raises(InvalidToken):
            Subscription.from_json(bad)


async def test_invalid_and_expired_subscriptions_never_reach_the_wire(
    sim: WebPushSimulator, client: WebPush, clock: ManualClock
) -> None:
    expired = sim.subscribe(expiration_time=int((clock() - 1) * 1000))
    broken = dict(sim.subscribe(), keys={"p256dh": "AAAA", "auth": "AAAA"})
    before = sim.requests
    result = await client.send(HELLO, [expired, broken, "{oops"])
    assert [(r.status, r.reason) for r in result] == [
        (Status.DEAD, "SubscriptionExpired"),
        (Status.FAILED, "InvalidSubscription"),
        (Status.FAILED, "InvalidSubscription"),
    ]
    assert result.tokens[:2] == [expired["endpoint"], broken["endpoint"]]
    assert sim.requests == before


async def test_oversized_payload_raises_before_sending(sim: WebPushSimulator, client: WebPush) -> None:
    with pytest.raises(PayloadTooLarge):
        await client.send(Notification(body="x" * 5000), [sim.subscribe()])
    assert sim.requests == 0
    client.max_payload_size = 4000
    result = await client.send_one(Notification(body="x" * 5000), sim.subscribe())
    assert result.ok
    assert len(sim.accepted[0]["plaintext"].encode()) <= 3993


def test_configuration_is_checked_up_front() -> None:
    with pytest.raises(ConfigurationError):
        WebPush(vapid_private_key=VapidKey.generate(), vapid_subject="https://localhost")
    with pytest.raises(ConfigurationError):
        WebPush(vapid_private_key="garbage", vapid_subject="mailto:ops@example.com")
    client = WebPush(vapid_private_key=VapidKey.generate(), vapid_subject="mailto:ops@example.com")
    assert "PRIVATE" not in repr(client)


class HTTP1OnlyWebPush(WebPushSimulator):
    """A push service whose front end speaks only HTTP/1.1 (ALPN http/1.1)."""

    http2: ClassVar[bool] = False
    alpn: ClassVar[tuple[str, ...]] = ("http/1.1",)


async def test_http1_only_origin_falls_back_and_remembers(
    local_ca: LocalCA, ca_file: Path, vapid_key: VapidKey, clock: ManualClock
) -> None:
    sim = HTTP1OnlyWebPush(ca=local_ca, clock=clock)
    await sim.start()
    try:
        subscriptions = [sim.subscribe() for _ in range(20)]
        async with WebPush(vapid_private_key=vapid_key, vapid_subject="mailto:ops@example.com",
                           allowed_hosts=[urlsplit(sim.url).netloc], ca_file=ca_file, clock=clock) as client:
            first = await client.send(HELLO, subscriptions)
            assert first.ok, first.errors
            again = await client.send(Notification(title="again"), subscriptions[:3])
            assert again.ok
            assert client._origins[sim.origin].http1 is not None
        assert {r["http_version"] for r in sim.accepted} == {"1.1"}
        assert len(sim.accepted) == 23
        assert sim.accepted[-1]["payload"] == {"title": "again"}
    finally:
        await sim.stop()


async def test_bulk_send_every_plaintext_decrypted(sim: WebPushSimulator, client: WebPush) -> None:
    subscriptions = [sim.subscribe() for _ in range(2000)]
    notification = Notification(title="Flash sale", body="Everything must go", data={"campaign": "c-7"})
    result = await client.send(notification, subscriptions)
    assert result.ok, result.errors[:3]
    assert len(result) == 2000
    assert len({r.message_id for r in result}) == 2000
    assert len(sim.accepted) == 2000
    expected = {"title": "Flash sale", "body": "Everything must go", "data": {"campaign": "c-7"}}
    by_endpoint = {r["endpoint"]: r for r in sim.accepted}
    for subscription in subscriptions:
        record = by_endpoint[subscription["endpoint"]]
        assert record["payload"] == expected
    # every body was encrypted afresh: no two share an ephemeral key
    assert client.vapid.signed == 1
    assert len(b64url_decode(subscriptions[0]["keys"]["auth"])) == 16
