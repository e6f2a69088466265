"""A send's delivery log as streamed CSV and JSON lines, from a real send through the FCM simulator."""

from __future__ import annotations

import csv
import io
import json

import pytest

from pushgate.service import exports
from pushgate.simulators.fcm import FCMSimulator
from tests.live_server import StartLive


def _token(n: int) -> str:
    return f"export-device-{n:04d}:APA91b{'w' * 120}"


async def test_the_log_is_exported_as_csv_and_json_lines(
    start_live: StartLive, fcm_sim: FCMSimulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exports, "EXPORT_PAGE", 2)  # five rows: three pages, three read transactions
    live = await start_live(fcm=fcm_sim)
    ids = [(await live.device(provider="fcm", token=_token(n), user=f"u{n}"))["id"] for n in range(5)]
    sent = await live.http.post("/v1/sends", json={"notification": {"title": "Hi"}, "target": {"all": True}},
                                headers=live.auth)
    send_id = sent.json()["id"]
    await live.wait_done(send_id)

    answer = await live.http.get(f"/v1/sends/{send_id}/deliveries.csv", headers=live.auth)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert f"send-{send_id}-deliveries.csv" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == list(exports.COLUMNS)
    assert [int(r["device_id"]) for r in rows] == sorted(ids)
    assert {r["status"] for r in rows} == {"sent"}
    assert all(r["message_id"].startswith("projects/") and "…" in r["token"] for r in rows)

    lines = await live.http.get(f"/v1/sends/{send_id}/deliveries.jsonl", headers=live.auth)
    assert lines.headers["content-type"] == "application/jsonl; charset=utf-8"
    parsed = [json.loads(line) for line in lines.text.splitlines()]
    assert [p["device_id"] for p in parsed] == sorted(ids)
    assert all(p["provider"] == "fcm" and p["attempts"] == 1 and p["target"] is None for p in parsed)

    only = await live.http.get(f"/v1/sends/{send_id}/deliveries.jsonl", params={"status": "dead"},
                               headers=live.auth)
    assert only.status_code == 200
    assert only.text == ""
    bad = await live.http.get(f"/v1/sends/{send_id}/deliveries.csv", params={"status": "gone"},
                              headers=live.auth)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "query.status")

    other = await start_live()
    foreign = await other.http.get(f"/v1/sends/{send_id}/deliveries.csv", headers=other.auth)
    assert foreign.status_code == 404
    assert (await live.http.get("/v1/sends/nope/deliveries.jsonl", headers=live.auth)).status_code == 404
