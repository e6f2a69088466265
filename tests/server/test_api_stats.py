"""Displayed/clicked reports from service workers, and the stats per send, custom metric and bucket.

Sends are accepted by the API and fanned out by the planner; outcomes are
recorded with the registry's own function (what the workers call), and the
reports come in through the public route as ``pushgate-sw.js`` sends them.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pushgate.planner.fanout import fan_out
from pushgate.registry import DeliveryStatus, Outcome, record_outcomes
from tests.server.api_helpers import Api, Tenant
from tests.server.websdk_helpers import SITE, Sdk, page_post, setup_sdk, subscription


async def _subscribed(api: Api, sdk: Sdk, count: int) -> list[tuple[int, str]]:
    found = []
    for _ in range(count):
        sub = subscription()
        answer = await page_post(api, sdk, "/subscriptions", {"subscription": sub})
        found.append((answer.json()["id"], sub["endpoint"]))
    return found


async def _send(api: Api, tenant: Tenant, device_ids: list[int], metrics: list[str] | None = None) -> str:
    notification: dict[str, Any] = {"title": "Sale", "body": "50% off"}
    if metrics is not None:
        notification["webpush"] = {"custom_metrics": metrics}
    answer = await api.client.post("/v1/sends", headers=tenant.headers,
                                   json={"notification": notification, "target": {"device_ids": device_ids}})
    assert answer.status_code == 202, answer.text
    send_id: str = answer.json()["id"]
    fan_out(api.db, api.queue, send_id)
    return send_id


async def _report(api: Api, events: list[dict[str, Any]], origin: str = SITE) -> Any:
    return await api.client.post("/sdk/v1/events", content=json.dumps({"events": events}),
                                 headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": origin})


async def test_reports_count_once_per_subscription_and_for_real_endpoints(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    (d1, e1), (d2, e2) = await _subscribed(api, sdk, 2)
    send_id = await _send(api, shop, [d1, d2], metrics=["promo"])
    with api.db.session() as session:
        record_outcomes(session, send_id, "webpush", [Outcome(d1, DeliveryStatus.SENT, message_id="m1"),
                                                      Outcome(d2, DeliveryStatus.DEAD, "Unregistered")])
    events = [{"send": send_id, "event": "displayed", "endpoint": e1},
              {"send": send_id, "event": "clicked", "endpoint": e1, "action": "open"},
              {"send": send_id, "event": "displayed", "endpoint": e1},  # the same again
              {"send": send_id, "event": "displayed", "endpoint": "https://fcm.googleapis.com/fcm/send/made-up"},
              {"send": "no-such-send", "event": "displayed", "endpoint": e2}]
    answer = await _report(api, events)
    assert answer.status_code == 202
    assert answer.json() == {"recorded": 2}
    assert answer.headers["access-control-allow-origin"] == SITE
    assert (await _report(api, events[:2])).json() == {"recorded": 0}  # a retried batch
    foreign = await _report(api, [{**events[0], "endpoint": e2}], origin="https://evil.example")
    assert foreign.json() == {"recorded": 0}
    assert "access-control-allow-origin" not in foreign.headers

    one = await api.client.get(f"/v1/stats/sends/{send_id}", headers=shop.headers)
    assert one.json() | {"created_at": None} == {
        "id": send_id, "created_at": None, "metrics": ["promo"], "sends": 1, "targeted": 2, "sent": 1,
        "failed": 0, "dead": 1, "displayed": 1, "clicked": 1}
    other = await setup_sdk(api, await api.tenant("other"))
    assert other.public_id != sdk.public_id
    assert (await api.client.get(f"/v1/stats/sends/{send_id}",
                                 headers=(await api.tenant("third")).headers)).status_code == 404


async def test_a_report_is_refused_without_an_origin_and_checked_for_size(api: Api, shop: Tenant) -> None:
    no_origin = await api.client.post("/sdk/v1/events", json={"events": [
        {"send": "s", "event": "displayed", "endpoint": "https://x"}]})
    assert no_origin.status_code == 403
    assert no_origin.json()["error"]["field"] == "header.origin"
    too_many = await _report(api, [{"send": "s", "event": "displayed", "endpoint": f"https://x/{i}"}
                                   for i in range(101)])
    assert too_many.status_code == 422
    assert too_many.json()["error"]["field"] == "body.events"
    unknown_kind = await _report(api, [{"send": "s", "event": "opened", "endpoint": "https://x"}])
    assert unknown_kind.status_code == 422
    assert unknown_kind.json()["error"]["field"] == "body.events[0].event"


async def test_stats_per_bucket_and_metric_as_json_and_csv(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    devices = await _subscribed(api, sdk, 3)
    ids = [d for d, _ in devices]
    promo = await _send(api, shop, ids, metrics=["promo", "=cmd"])
    plain = await _send(api, shop, ids[:1])
    await _report(api, [{"send": promo, "event": "displayed", "endpoint": e} for _, e in devices]
                  + [{"send": promo, "event": "clicked", "endpoint": devices[0][1]},
                     {"send": plain, "event": "displayed", "endpoint": devices[0][1]}])

    answer = await api.client.get("/v1/stats", headers=shop.headers, params={"bucket": "hour"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    [total] = body["totals"]
    assert datetime.fromisoformat(total["start"]) in (hour, hour - timedelta(hours=1))
    assert {k: total[k] for k in ("sends", "targeted", "displayed", "clicked")} == {
        "sends": 2, "targeted": 4, "displayed": 4, "clicked": 1}
    assert [(m["metric"], m["targeted"], m["displayed"], m["clicked"]) for m in body["metrics"]] == [
        ("=cmd", 3, 3, 1), ("promo", 3, 3, 1)]
    only = await api.client.get("/v1/stats", headers=shop.headers, params={"metric": "promo"})
    assert [m["metric"] for m in only.json()["metrics"]] == ["promo"]
    assert only.json()["bucket"] == "day"

    exported = await api.client.get("/v1/stats", headers=shop.headers, params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["metric"], r["sends"], r["displayed"]) for r in rows] == [
        ("", "2", "4"), ("'=cmd", "1", "3"), ("promo", "1", "3")]  # never a spreadsheet formula


async def test_stats_ranges_are_checked(api: Api, shop: Tenant) -> None:
    now = datetime.now(UTC)
    backwards = await api.client.get("/v1/stats", headers=shop.headers, params={
        "since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()})
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "query.until"
    too_long = await api.client.get("/v1/stats", headers=shop.headers, params={
        "bucket": "hour", "since": (now - timedelta(days=400)).isoformat()})
    assert too_long.status_code == 422
    assert too_long.json()["error"]["field"] == "query.since"
    naive = await api.client.get("/v1/stats", headers=shop.headers, params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    empty = await api.client.get("/v1/stats", headers=shop.headers)
    assert empty.json()["totals"] == []
    assert empty.json()["metrics"] == []
