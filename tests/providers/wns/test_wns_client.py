"""The WNS client against the simulator over real TLS (HTTP/1.1): outcomes as §6.6 says."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pushgate.errors import ConfigurationError, PayloadTooLarge
from pushgate.notification import Notification
from pushgate.providers import Message
from pushgate.providers.wns.client import WNS
from pushgate.providers.wns.lanes import Lanes
from pushgate.results import Cause, Status
from pushgate.simulators._base import Fault, ManualClock
from pushgate.simulators.wns import WNSSimulator

MakeWNS = Callable[..., WNS]

NASTY = 'Fish & Chips <"best"> \'ever\' ]]>'


def notify_fault(**kw: Any) -> Fault:
    """A fault for notification requests only (not the token endpoint)."""
    return Fault(path_contains="token=", **kw)


def texts(record: dict[str, object]) -> list[str]:
    return [t.text or "" for t in ET.fromstring(str(record["body"])).iter("text")]


# -- accepted requests --------------------------------------------------------------------


async def test_toast_is_accepted_with_headers_and_escaped_text(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    wns = make_wns()
    channel = sim.create_channel()
    result = await wns.send_one(
        Notification(title=NASTY, body=NASTY, ttl=120, collapse_key="score", thread_id="match"), channel
    )
    assert result.status is Status.SENT
    assert result.http_status == 200
    [record] = sim.accepted
    assert result.message_id == record["msg_id"]
    assert len(str(result.message_id)) <= 16
    assert record["type"] == "wns/toast"
    assert record["content_type"] == "text/xml"
    assert (record["ttl"], record["tag"], record["group"]) == (120, "score", "match")
    assert texts(record) == [NASTY, NASTY]
    assert record["request_for_status"] is False
    assert result.detail is None


async def test_raw_badge_and_tile_are_accepted(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    wns = make_wns()
    channel = sim.create_channel()
    raw = await wns.send_one(Notification(data={"order": 42}, silent=True), channel)
    badge = await wns.send_one(Notification(badge=3), channel)
    tile = await wns.send_one(Notification(title="Score", body="2-1", wns={"type": "wns/tile"}), channel)
    assert [r.status for r in (raw, badge, tile)] == [Status.SENT] * 3
    raw_rec, badge_rec, tile_rec = sim.accepted
    assert (raw_rec["type"], raw_rec["content_type"]) == ("wns/raw", "application/octet-stream")
    assert json.loads(str(raw_rec["body"])) == {"order": 42}
    assert (badge_rec["type"], badge_rec["content_type"]) == ("wns/badge", "text/xml")
    assert ET.fromstring(str(badge_rec["body"])).attrib == {"value": "3"}
    assert tile_rec["type"] == "wns/tile"
    assert ET.fromstring(str(tile_rec["body"])).tag == "tile"
    assert texts(tile_rec)[:2] == ["Score", "2-1"]


async def test_long_collapse_key_becomes_a_valid_tag(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    result = await make_wns().send_one(
        Notification(title="t", collapse_key="a-very-long-collapse-key-indeed"), sim.create_channel()
    )
    assert result.status is Status.SENT
    assert len(str(sim.accepted[0]["tag"])) == 16


async def test_request_for_status_round_trip(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    wns = make_wns(request_for_status=True)
    online, offline = sim.create_channel(), sim.create_channel(state="offline")
    result = await wns.send(Notification(title="t"), [online, offline])
    first, second = result.results
    assert (first.status, first.detail, first.reason) == (Status.SENT, "connected", None)
    assert (second.status, second.detail, second.reason) == (Status.SENT, "disconnected", "dropped")
    assert all(r["request_for_status"] for r in sim.accepted)
    assert sim.accepted[0]["headers"]["x-wns-requestforstatus"] == "true"


async def test_send_messages_with_different_notifications(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    channel = sim.create_channel()
    result = await make_wns().send_messages([
        Message(channel, Notification(title="one")),
        Message(channel, Notification(data={"two": 2}, silent=True)),
        Message(channel, Notification(title="x", body="y" * 6000)),  # too large: FAILED, not raised
    ])
    assert [r.status for r in result] == [Status.SENT, Status.SENT, Status.FAILED]
    assert result.results[2].reason == "PayloadTooLarge"
    assert [r["type"] for r in sim.accepted] == ["wns/toast", "wns/raw"]


# -- auth ---------------------------------------------------------------------------------


async def test_token_is_fetched_once_for_a_bulk_send(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    channels = [sim.create_channel() for _ in range(100)]
    result = await make_wns(concurrency=50).send(Notification(title="bulk"), channels)
    assert result.ok
    assert len(result) == 100
    assert sim.tokens_issued == 1
    assert len(sim.accepted) == 100


async def test_token_is_refreshed_after_expiry(
    sim: WNSSimulator, make_wns: MakeWNS, clock: ManualClock
) -> None:
    wns = make_wns()
    channel = sim.create_channel()
    assert (await wns.send_one(Notification(title="a"), channel)).ok
    clock.advance(86400)
    assert (await wns.send_one(Notification(title="b"), channel)).ok
    assert sim.tokens_issued == 2
    assert sim.accepted[0]["client_id"] == sim.accepted[1]["client_id"] == sim.demo_app.client_id


async def test_401_refreshes_the_token_and_succeeds(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    wns = make_wns()
    channels = [sim.create_channel() for _ in range(20)]
    assert (await wns.send(Notification(title="a"), channels)).ok
    sim.revoke_tokens()  # every request now carries a token WNS no longer knows
    result = await wns.send(Notification(title="b"), channels)
    assert result.ok
    assert {r.attempts for r in result} == {2}
    assert sim.tokens_issued == 2  # twenty 401s, one refresh


async def test_second_401_in_a_row_is_a_config_failure(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.queue_fault(notify_fault(status=401, count=2))
    result = await make_wns().send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.cause, result.http_status) == (Status.FAILED, Cause.CONFIG, 401)
    assert result.attempts == 2
    assert sim.tokens_issued == 2


async def test_401_without_engine_retries_is_retry_auth(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.revoke_tokens()
    sim.queue_fault(notify_fault(status=401))
    result = await make_wns(max_retries=0).send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.cause, result.retry_after) == (Status.RETRY, Cause.AUTH, 0.0)


async def test_bad_credentials_fail_every_token_as_config(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    wns = make_wns(client_secret="wrong-secret")
    result = await wns.send(Notification(title="t"), [sim.create_channel() for _ in range(10)])
    assert {(r.status, r.cause, r.reason) for r in result} == {
        (Status.FAILED, Cause.CONFIG, "AuthenticationError")
    }
    assert "wrong-secret" not in repr(wns)
    assert all("wrong-secret" not in str(r.detail) for r in result)
    assert wns.auth.fetches == 1
    assert sim.requests == 1


async def test_entra_app_sends_toast_but_not_tile(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    app = sim.register_app(tenant_id="tenant-1")
    wns = make_wns(client_id=app.client_id, client_secret=app.client_secret, tenant_id="tenant-1",
                   token_url=sim.demo_credentials()["entra_token_url"])
    channel = sim.create_channel(client_id=app.client_id)
    assert (await wns.send_one(Notification(title="t"), channel)).ok
    tile = await wns.send_one(Notification(title="t", wns={"type": "tile"}), channel)
    assert (tile.status, tile.cause, tile.http_status) == (Status.FAILED, Cause.REQUEST, 400)
    assert "App SDK" in str(tile.detail)


# -- dead, forbidden, failed ----------------------------------------------------------------


async def test_unknown_and_expired_channels_are_dead(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.set_mode(accept_any_token=False)
    live, expired = sim.create_channel(), sim.create_channel(state="expired")
    unknown = sim.channel_uri("never-created")
    result = await make_wns().send(Notification(title="t"), [live, unknown, expired])
    assert [r.status for r in result] == [Status.SENT, Status.DEAD, Status.DEAD]
    assert [(r.http_status, r.reason) for r in result.results[1:]] == [
        (404, "ChannelNotFound"), (410, "ChannelExpired")
    ]
    assert result.dead_tokens == [unknown, expired]


async def test_channel_of_another_app_is_forbidden(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    other = sim.register_app()
    result = await make_wns().send_one(Notification(title="t"), sim.create_channel(client_id=other.client_id))
    assert (result.status, result.cause, result.http_status) == (Status.FAILED, Cause.CONFIG, 403)
    assert result.reason == "Forbidden"


async def test_bad_request_is_failed_with_the_description(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    notification = Notification(title="t", wns={"headers": {"X-WNS-SuppressPopup": "true"}})
    result = await make_wns().send_one(notification, sim.create_channel())
    assert (result.status, result.cause, result.http_status) == (Status.FAILED, Cause.REQUEST, 400)
    assert "SuppressPopup" in str(result.detail)


@pytest.mark.parametrize("status", [405, 413])
async def test_other_request_errors_are_failed(sim: WNSSimulator, make_wns: MakeWNS, status: int) -> None:
    sim.queue_fault(notify_fault(status=status, headers=[("x-wns-error-description", "nope")]))
    result = await make_wns().send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.cause, result.detail, result.attempts) == (
        Status.FAILED, Cause.REQUEST, "nope", 1
    )


async def test_payload_too_large_is_refused_before_sending(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    with pytest.raises(PayloadTooLarge):
        await make_wns().send(Notification(title="t", body="x" * 5000), [sim.create_channel()])
    assert sim.requests == 0


async def test_trimming_sends_a_payload_that_fits(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    body = "Long story & more. " * 400
    result = await make_wns(max_payload_size=5000).send_one(Notification(title="t", body=body),
                                                            sim.create_channel())
    assert result.ok
    sent = str(sim.accepted[0]["body"]).encode()
    assert len(sent) <= 5000
    assert texts(sim.accepted[0])[1].endswith("…")


async def test_disallowed_channels_fail_without_a_request(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    port_uri = sim.channel_uri("x")
    channels = [
        "https://evil.example.com/?token=x",
        port_uri.replace("https://", "http://"),
        port_uri.replace("https://", "https://user:pw@"),
        "https://db5.notify.windows.com.evil.example/?token=x",
        "not a url",
    ]
    result = await make_wns().send(Notification(title="t"), channels)
    assert {(r.status, r.cause, r.reason) for r in result} == {
        (Status.FAILED, Cause.REQUEST, "DisallowedEndpoint")
    }
    assert sim.requests == 0
    assert sim.tokens_issued == 0


async def test_allow_list_rules() -> None:
    async with WNS(client_id="ms-app://x", client_secret="s") as wns:
        assert wns.is_allowed("https://db5.notify.windows.com/?token=a")
        assert wns.is_allowed("https://WNS2-BY3P.notify.windows.com/?token=a")
        assert not wns.is_allowed("https://notify.windows.com/?token=a")
        assert not wns.is_allowed("https://db5.notify.windows.com:8443/?token=a")
        assert not wns.is_allowed("http://db5.notify.windows.com/?token=a")
    hosts = ["127.0.0.1:8443", "push.local"]
    async with WNS(client_id="ms-app://x", client_secret="s", allowed_hosts=hosts) as custom:
        assert custom.is_allowed("https://127.0.0.1:8443/?token=a")
        assert not custom.is_allowed("https://127.0.0.1/?token=a")
        assert custom.is_allowed("https://push.local/?token=a")
        assert not custom.is_allowed("https://push.local:444/?token=a")
    for bad in ("*", "https://x/", "*.a:b"):
        with pytest.raises(ConfigurationError):
            WNS(client_id="ms-app://x", client_secret="s", allowed_hosts=[bad])


# -- throttling and retries ---------------------------------------------------------------


async def test_service_throttling_is_retry(sim: WNSSimulator, make_wns: MakeWNS, clock: ManualClock) -> None:
    sim.set_rate_limit(1, 60.0)
    wns = make_wns(max_retries=0)
    channel = sim.create_channel()
    assert (await wns.send_one(Notification(title="a"), channel)).ok
    throttled = await wns.send_one(Notification(title="b"), channel)
    assert (throttled.status, throttled.cause, throttled.http_status) == (Status.RETRY, Cause.THROTTLED, 406)
    assert throttled.retry_after is None  # no Retry-After: the engine's backoff decides
    clock.advance(60)
    assert (await wns.send_one(Notification(title="c"), channel)).ok


async def test_406_retry_after_is_honoured(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.queue_fault(notify_fault(status=406, headers=[("retry-after", "120")]))
    result = await make_wns(max_retry_delay=10.0).send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.retry_after, result.attempts) == (Status.RETRY, 120.0, 1)


async def test_406_is_retried_to_success_when_it_clears(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.queue_fault(notify_fault(status=406, headers=[("retry-after", "0")]))
    result = await make_wns().send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.attempts) == (Status.SENT, 2)


async def test_channel_throttling_is_retry_after_continue_after(
    sim: WNSSimulator, make_wns: MakeWNS, clock: ManualClock
) -> None:
    channel = sim.create_channel()
    sim.set_channel_rate_limit(1, 30.0, channel=channel)
    wns = make_wns(max_retry_delay=10.0)
    assert (await wns.send_one(Notification(title="a"), channel)).ok
    throttled = await wns.send_one(Notification(title="b"), channel)
    assert (throttled.status, throttled.cause, throttled.reason) == (
        Status.RETRY, Cause.THROTTLED, "channelthrottled"
    )
    assert (throttled.http_status, throttled.retry_after, throttled.attempts) == (200, 30.0, 1)
    other = await wns.send_one(Notification(title="c"), sim.create_channel())
    assert other.ok  # only that channel is throttled
    clock.advance(30)
    assert (await wns.send_one(Notification(title="d"), channel)).ok


async def test_channelthrottled_is_retried_to_success(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.queue_fault(notify_fault(status=200, headers=[("x-wns-status", "channelthrottled"),
                                               ("x-wns-continue-after", "0")]))
    result = await make_wns().send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.attempts) == (Status.SENT, 2)
    assert len(sim.accepted) == 1


async def test_server_errors_are_retried(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.queue_fault(notify_fault(status=500))
    sim.queue_fault(notify_fault(status=503))
    result = await make_wns().send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.attempts) == (Status.SENT, 3)


async def test_persistent_503_is_retry_provider(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.queue_fault(notify_fault(status=503, headers=[("retry-after", "30")], count=5))
    result = await make_wns(max_retries=0).send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.cause, result.retry_after) == (Status.RETRY, Cause.PROVIDER, 30.0)


async def test_dropped_connection_is_retry_transport(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.queue_fault(notify_fault(action="drop"))
    wns = make_wns(max_retries=0)
    channel = sim.create_channel()
    dropped = await wns.send_one(Notification(title="t"), channel)
    assert (dropped.status, dropped.cause) == (Status.RETRY, Cause.TRANSPORT)
    assert (await wns.send_one(Notification(title="t"), channel)).ok


async def test_dropped_connection_is_retried_to_success(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    sim.queue_fault(notify_fault(action="drop"))
    result = await make_wns().send_one(Notification(title="t"), sim.create_channel())
    assert (result.status, result.attempts) == (Status.SENT, 2)


# -- connections ----------------------------------------------------------------------------


async def test_connections_are_bounded_and_reused(sim: WNSSimulator, make_wns: MakeWNS) -> None:
    wns = make_wns(concurrency=40, max_connections=4)
    result = await wns.send(Notification(title="t"), [sim.create_channel() for _ in range(120)])
    assert result.ok
    # four notification connections plus the token endpoint's, all HTTP/1.1
    assert len(sim.server.connections) <= 5
    assert {c.http_version for c in sim.server.connections} == {"1.1"}


async def test_lanes_hand_over_first_come_first_served() -> None:
    made: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        made.append(httpx.AsyncClient())
        return made[-1]

    lanes = Lanes(factory, 1)
    first = await lanes.acquire()
    order: list[str] = []

    async def wait(name: str) -> None:
        client = await lanes.acquire()
        order.append(name)
        lanes.release(client)

    waiters = [asyncio.create_task(wait(name)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)  # let all three queue up
    cancelled = waiters.pop(1)
    cancelled.cancel()
    lanes.release(first)
    await asyncio.gather(*waiters)
    assert order == ["a", "c"]
    assert lanes.opened == 1
    assert await lanes.acquire() is first
    await lanes.aclose()
    with pytest.raises(RuntimeError):
        await lanes.acquire()
