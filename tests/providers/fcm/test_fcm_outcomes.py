"""FCM answer classification on its own: the §6.6 table and defensive parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pushgate.providers.fcm.outcomes import (
    APNS_ERROR,
    BAD_REQUEST,
    FCM_ERROR,
    classify,
    parse_error,
)
from pushgate.results import Cause, Status

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def error(status: int, canonical: str, message: str = "", code: str | None = None,
          apns: tuple[int, str] | None = None, fields: list[tuple[str, str]] | None = None) -> bytes:
    details: list[dict[str, Any]] = []
    if code:
        details.append({"@type": FCM_ERROR, "errorCode": code})
    if apns:
        details.append({"@type": APNS_ERROR, "statusCode": apns[0], "reason": apns[1]})
    if fields:
        details.append({"@type": BAD_REQUEST, "fieldViolations": [
            {"field": f, "description": d} for f, d in fields]})
    return json.dumps({"error": {"code": status, "message": message, "status": canonical,
                                 "details": details}}).encode()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, error(404, "NOT_FOUND", code="UNREGISTERED"), (Status.DEAD, None)),
        (403, error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
         (Status.DEAD, None)),
        (400, error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                    "INVALID_ARGUMENT"), (Status.DEAD, None)),
        (400, error(400, "INVALID_ARGUMENT", "APNs device token is disabled.", "INVALID_ARGUMENT",
                    (410, "Unregistered")), (Status.DEAD, None)),
        (401, error(401, "UNAUTHENTICATED", code="THIRD_PARTY_AUTH_ERROR",
                    apns=(403, "InvalidProviderToken")), (Status.FAILED, Cause.CONFIG)),
        (401, error(401, "UNAUTHENTICATED", code="APNS_AUTH_ERROR"), (Status.FAILED, Cause.CONFIG)),
        (401, error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
         (Status.RETRY, Cause.AUTH)),
        (403, error(403, "PERMISSION_DENIED", "Permission denied"), (Status.FAILED, Cause.CONFIG)),
        (404, error(404, "NOT_FOUND", "Requested entity was not found."), (Status.FAILED, Cause.CONFIG)),
        (400, error(400, "INVALID_ARGUMENT", "bad", fields=[("message.android.ttl", "bad ttl")]),
         (Status.FAILED, Cause.REQUEST)),
        (429, error(429, "RESOURCE_EXHAUSTED", code="QUOTA_EXCEEDED"), (Status.RETRY, Cause.THROTTLED)),
        (503, error(503, "UNAVAILABLE", code="UNAVAILABLE"), (Status.RETRY, Cause.PROVIDER)),
        (500, error(500, "INTERNAL", code="INTERNAL"), (Status.RETRY, Cause.PROVIDER)),
        (502, b"<html>bad gateway</html>", (Status.RETRY, Cause.PROVIDER)),
        (413, b"", (Status.FAILED, Cause.REQUEST)),
    ],
)
def test_classification(status: int, body: bytes, expected: tuple[Status, Cause | None]) -> None:
    result = classify(status, body, None, "tok", NOW)
    assert (result.status, result.cause) == expected
    assert result.http_status == status
    assert result.token == "tok"


def test_success_takes_the_message_name() -> None:
    result = classify(200, b'{"name":"projects/p/messages/0:1"}', None, "t", NOW)
    assert (result.status, result.message_id) == (Status.SENT, "projects/p/messages/0:1")
    assert classify(200, b"not json", None, "t", NOW).status is Status.SENT


def test_quota_waits_at_least_a_minute_and_longer_if_told() -> None:
    body = error(429, "RESOURCE_EXHAUSTED", code="QUOTA_EXCEEDED")
    assert classify(429, body, None, "t", NOW).retry_after == 60
    assert classify(429, body, "5", "t", NOW).retry_after == 60
    assert classify(429, body, "300", "t", NOW).retry_after == 300


def test_field_violations_go_in_the_detail() -> None:
    body = error(400, "INVALID_ARGUMENT", "Invalid value", fields=[("message.data[0].value", "TYPE_STRING")])
    assert classify(400, body, None, "t", NOW).detail == "Invalid value; message.data[0].value: TYPE_STRING"


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b'{"error": "text"}', b'{"error": {"details": "x", "code": "400"}}',
     b'{"error": {"details": [1, {"@type": 5}, {"@type": "' + BAD_REQUEST.encode()
     + b'", "fieldViolations": [1]}]}}',
     b"\xff\xfe"],
)
def test_odd_error_bodies_do_not_raise(body: bytes) -> None:
    info = parse_error(body)
    assert info.error_code is None
    for status in (400, 401, 403, 404, 429, 500):
        assert classify(status, body, None, "t", NOW).token == "t"
