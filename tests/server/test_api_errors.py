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


async def test_an_unknown_field_suggests_the_one_meant(api: Api, shop: Tenant) -> None:
    body = {"notification": {"titel": "Hi"}, "target": {"al": True}}
    answer = await api.client.post("/v1/sends", json=body, headers=shop.headers)
    assert answer.status_code == 422
    error = answer.json()["error"]
    messages = {e["field"]: e["message"] for e in error["errors"]}
    assert messages["body.notification.titel"] == "unknown field 'titel'; did you mean 'title'?"
    assert messages["body.target.al"] == "unknown field 'al'; did you mean 'all'?"
    assert error["message"].startswith("2 problems; the first: unknown field")
    # Nothing close: the field is named unknown, without a guess.
    answer = await api.client.post("/v1/devices", json={"provider": "fcm", "token": "t" * 40, "zzzzz": 1},
                                   headers=shop.headers)
    assert answer.json()["error"]["message"] == "unknown field 'zzzzz'"
    # The objects checked by hand say it too: an event (a rejection; the batch's only one, so a 422),
    # a target, a device row.
    events = {"events": [{"user": "u1", "event_id": 1001}]}
    answer = await api.client.post("/v1/events", json=events, headers=shop.headers)
    assert answer.json()["error"]["field"] == "events[0].user"
    assert answer.json()["error"]["rejected"] == [
        {"index": 0, "reason": "user: unknown field; did you mean 'user_id'?"}
    ]
    send = {"notification": {"title": "a"}, "target": {"user": ["u1"]}}
    answer = await api.client.post("/v1/sends", json=send, headers=shop.headers)
    assert answer.json()["error"]["message"] == "unknown field 'user'; did you mean 'users'?"
    rows = [{"provider": "fcm", "token": "t" * 40, "plaform": "ios"}]
    answer = await api.client.post("/v1/devices/import", json=rows, headers=shop.headers)
    assert answer.json()["errors"] == [
        {"index": 0, "field": "plaform", "message": "unknown field; did you mean 'platform'?"}
    ]


async def test_invalid_json_says_where(api: Api, shop: Tenant) -> None:
    answer = await api.client.post("/v1/sends", content=b'{"notification": {"title": "x"',
                                   headers={**shop.headers, "Content-Type": "application/json"})
    error = answer.json()["error"]
    assert (answer.status_code, error["field"]) == (422, "body")
    assert error["message"] == "the body is not valid JSON: Expecting ',' delimiter at character 30"


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


BEYOND_INT64 = 2**63  # one past the largest id either database stores


async def test_ids_beyond_int64_are_not_found_in_a_path_and_named_in_a_body(api: Api, shop: Tenant) -> None:
    for url in (f"/v1/devices/{BEYOND_INT64}", f"/v1/devices/{BEYOND_INT64}/deliveries",
                f"/v1/devices/{-BEYOND_INT64 - 1}"):
        answer = await api.client.get(url, headers=shop.headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found"), url
    answer = await api.client.delete(f"/v1/devices/{BEYOND_INT64}", headers=shop.headers)
    assert answer.status_code == 404
    for url in (f"/v1/apps/{BEYOND_INT64}", f"/v1/apps/{BEYOND_INT64}/keys"):
        answer = await api.client.get(url, headers=ADMIN)
        assert answer.status_code == 404, url
    answer = await api.client.delete(f"/v1/apps/{shop.id}/keys/{BEYOND_INT64}", headers=ADMIN)
    assert answer.status_code == 404

    body = {"notification": {"title": "Hi"}, "target": {"device_ids": [1, 1180591620717411303424]}}
    answer = await api.client.post("/v1/sends", json=body, headers=shop.headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "body.target.device_ids[1]"


async def test_control_characters_are_refused_naming_the_field(api: Api, shop: Tenant) -> None:
    from tests.server.api_helpers import apns_token

    answer = await api.client.put("/v1/users/a%00b", json={}, headers=shop.headers)
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "path.external_id")
    device = {"provider": "apns", "token": apns_token(0)}
    for extra, field in (({"user": "a\x00b"}, "body.user"), ({"tags": ["vip", "x\x00"]}, "body.tags[1]"),
                         ({"name": "phone\x00"}, "body.name"), ({"locale": "en\x00"}, "body.locale")):
        answer = await api.client.post("/v1/devices", json={**device, **extra}, headers=shop.headers)
        assert (answer.status_code, answer.json()["error"]["field"]) == (422, field), extra
    answer = await api.client.get("/v1/devices", params={"user": "a\x00"}, headers=shop.headers)
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "query.user")
    for body, field in (
        ({"notification": {"title": "Hi\x00"}, "target": {"all": True}}, "body.notification.title"),
        ({"notification": {"title": "Hi"}, "target": {"users": ["a\x1b"]}}, "body.target.users[0]"),
    ):
        answer = await api.client.post("/v1/sends", json=body, headers=shop.headers)
        assert (answer.status_code, answer.json()["error"]["field"]) == (422, field), body
    # Ids and tags take no line breaks or tabs either; free text keeps them.
    answer = await api.client.put("/v1/users/alice", json={"tags": ["a\nb"]}, headers=shop.headers)
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "body.tags")
    note = {"notification": {"title": "Hi", "body": "line one\nline two\tend"}, "target": {"all": True}}
    assert (await api.client.post("/v1/sends", json=note, headers=shop.headers)).status_code == 202


async def test_invalid_utf8_in_a_path_is_a_bad_request(api: Api, shop: Tenant) -> None:
    for url in ("/v1/users/%FF%FE", "/v1/users/%C3"):
        answer = await api.client.put(url, json={}, headers=shop.headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_path"), url
        answer = await api.client.get(url, headers=shop.headers)
        assert answer.status_code == 400, url
    answer = await api.client.get("/v1/devices?user=%FF", headers=shop.headers)
    assert (answer.status_code, answer.json()["error"]["field"]) == (400, "query")
    assert (await api.client.put("/v1/users/%C3%A9", json={}, headers=shop.headers)).status_code == 201


async def test_a_badge_beyond_32_bits_is_refused_naming_it(api: Api, shop: Tenant) -> None:
    body = {"notification": {"title": "Hi", "badge": 10**30}, "target": {"all": True}}
    answer = await api.client.post("/v1/sends", json=body, headers=shop.headers)
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "body.notification.badge")
    body["notification"]["badge"] = 2**31 - 1  # type: ignore[index]
    assert (await api.client.post("/v1/sends", json=body, headers=shop.headers)).status_code == 202


async def test_a_json_body_is_read_whatever_form_content_type_curl_gave_it(api: Api, shop: Tenant) -> None:
    import json

    from tests.server.api_helpers import apns_token

    for n, content_type in enumerate(("application/x-www-form-urlencoded", "text/plain", None)):
        body = json.dumps({"provider": "apns", "token": apns_token(n)}).encode()
        headers = {**shop.headers, **({"Content-Type": content_type} if content_type else {})}
        answer = await api.client.post("/v1/devices", content=body, headers=headers)
        assert answer.status_code == 201, (content_type, answer.text)
    form = {**shop.headers, "Content-Type": "application/x-www-form-urlencoded"}
    answer = await api.client.post("/v1/devices", content=b"provider=apns&token=abc", headers=form)
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "body")
    answer = await api.client.post("/v1/devices", content=b"<device/>",
                                   headers={**shop.headers, "Content-Type": "application/xml"})
    assert (answer.status_code, answer.json()["error"]["field"]) == (415, "header.content-type")


async def test_openapi_documents_the_status_codes_of_every_operation(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            where = f"{method.upper()} {path}"
            if path.startswith("/v1/"):
                assert {"401", "422"} <= codes, where
            if "{" in path:
                assert "404" in codes, where
            for code in codes - {"200", "201", "202", "204"}:
                assert operation["responses"][code]["description"], (where, code)


async def test_a_language_tag_longer_than_its_column_is_a_field_error(api: Api, shop: Tenant) -> None:
    """RFC 5646 §4.4.1: tags up to 35 characters are kept; a longer one is a field error, not a 500."""
    long_tag = "en-" + "-".join(["abcdefgh"] * 4)  # 38 characters, each subtag well formed
    import_rows = [{"provider": "fcm", "token": "t" * 40, "locale": long_tag}]
    answer = await api.client.post("/v1/devices/import", json=import_rows, headers=shop.headers)
    assert answer.status_code == 200, answer.text
    assert [(e["index"], e["field"]) for e in answer.json()["errors"]] == [(0, "locale")]
    params = {"language": long_tag, "platform": "android", "token": "t" * 40}
    login = {"user_id": "u1", "event_id": 4001, "timestamp": 1_900_000_000_000, "params": params}
    version = {**login, "params": {**params, "language": "en", "application_version": "9" * 51}}
    events = await api.client.post("/v1/events", json={"events": [login, version]}, headers=shop.headers)
    assert (events.status_code, events.json()["error"]["field"]) == (422, "events[0].params.language")
    assert [r["reason"].split(":")[0] for r in events.json()["error"]["rejected"]] == [
        "params.language", "params.application_version"]
    user = await api.client.put("/v1/users/u2", json={"locale": long_tag}, headers=shop.headers)
    assert (user.status_code, user.json()["error"]["field"]) == (422, "body.locale")
    tag35 = "en-" + "-".join(["abcdefgh"] * 3) + "-abcde"
    assert len(tag35) == 35
    kept = await api.client.put("/v1/users/u3", json={"locale": tag35}, headers=shop.headers)
    assert (kept.status_code, kept.json()["locale"]) == (201, tag35)


async def test_a_notification_field_beside_notification_is_told_where_it_goes(api: Api, shop: Tenant) -> None:
    body = {"title": "Hi", "notification": {"body": "x"}, "target": {"all": True}}
    answer = await api.client.post("/v1/sends", json=body, headers=shop.headers)
    assert answer.status_code == 422
    assert answer.json()["error"] == {
        "code": "validation_error", "field": "body.title",
        "message": "unknown field 'title'; put it under 'notification'",
        "errors": [{"field": "body.title", "type": "extra_forbidden",
                    "message": "unknown field 'title'; put it under 'notification'"}],
    }
