"""The one error shape: every problem listed with its field, no input echoed, body-size limit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.server.api_helpers import ADMIN, Api, Secrets, Tenant


async def test_every_field_problem_is_listed(api: Api, shop: Tenant) -> None:
    body = {"notification": {"title": 5, "badge": -1, "colour": "red"}, "target": {"tokens": "abc"}}
    answer = await api.client.post("/v1/sends", json=body, headers=shop.headers)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "body.notification.title"
    assert {(e["field"], e["type"]) for e in error["errors"]} == {
        ("body.notification.title", "string_type"),
        ("body.notification.badge", "greater_than_equal"),
        ("body.notification.colour", "extra_forbidden"),
        ("body.target.tokens", "list_type"),
    }
    assert all(e["message"] for e in error["errors"])
    assert "red" not in answer.text  # the input is not echoed


async def test_invalid_json_and_wrong_types(api: Api, shop: Tenant) -> None:
    answer = await api.client.post("/v1/devices", content=b'{"provider": "apns",',
                                   headers={**shop.headers, "Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "body")
    answer = await api.client.post("/v1/devices", json=["a list"], headers=shop.headers)
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "body")
    answer = await api.client.get("/v1/devices/not-a-number", headers=shop.headers)
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "path.device_id")
    answer = await api.client.post("/v1/sends", json={"notification": {}, "target": {"all": True}},
                                   headers={**shop.headers, "Idempotency-Key": "k" * 300})
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "header.idempotency-key")


async def test_unknown_route_and_method_have_the_shape(api: Api) -> None:
    missing = await api.client.get("/v1/nothing-here")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong = await api.client.put("/health")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")


async def test_request_body_limit(make_api: Any) -> None:
    api: Api = await make_api(max_request_bytes=2000)
    shop = await api.tenant()
    rows = [{"provider": "fcm", "token": f"token-{i:030d}"} for i in range(100)]
    declared = await api.client.post("/v1/devices/import", json=rows, headers=shop.headers)
    assert (declared.status_code, declared.json()["error"]["code"]) == (413, "request_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        yield b"["
        for i in range(100):
            yield (b"," if i else b"") + b'{"provider": "fcm", "token": "token-%030d"}' % i
        yield b"]"

    streamed = await api.client.post("/v1/devices/import", content=chunks(),
                                     headers={**shop.headers, "Content-Type": "application/json"})
    assert (streamed.status_code, streamed.json()["error"]["code"]) == (413, "request_too_large")
    assert (await api.client.get("/v1/devices", headers=shop.headers)).json()["items"] == []
    small = await api.client.post("/v1/devices/import", json=rows[:3], headers=shop.headers)
    assert (small.status_code, small.json()["created"]) == (200, 3)


async def test_an_unexpected_database_error_is_a_500_and_logs_no_secret(
    api: Api, shop: Tenant, provider_secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    # The database refuses the INSERT that carries the credentials: its error lists them as parameters.
    if api.db.is_sqlite:
        create = ["CREATE TRIGGER refuse BEFORE INSERT ON credentials BEGIN SELECT RAISE(ABORT, 'no'); END"]
        drop = ["DROP TRIGGER refuse"]
    else:
        create = ["CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; END $$ "
                  "LANGUAGE plpgsql",
                  "CREATE TRIGGER refuse BEFORE INSERT ON credentials FOR EACH ROW EXECUTE FUNCTION refuse()"]
        drop = ["DROP TRIGGER refuse ON credentials", "DROP FUNCTION refuse()"]
    with api.db.connect() as connection:
        for statement in create:
            connection.exec_driver_sql(statement)
    try:
        with caplog.at_level(logging.ERROR, logger="pushgate.server"):
            answer = await api.client.put(f"/v1/apps/{shop.id}/credentials/wns", json=provider_secrets.wns,
                                          headers=ADMIN)
    finally:
        with api.db.connect() as connection:
            for statement in drop:
                connection.exec_driver_sql(statement)
    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "internal_error", "message": "internal server error"}}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "parameters withheld" in logged
    assert "IntegrityError" in logged or "InternalError" in logged or "RaiseException" in logged
    assert provider_secrets.wns["client_secret"] not in logged
    assert provider_secrets.wns["client_secret"] not in caplog.text
    metrics = (await api.client.get("/metrics")).text
    assert 'route="/v1/apps/{app_id}/credentials/{provider}",status="500"' in metrics
