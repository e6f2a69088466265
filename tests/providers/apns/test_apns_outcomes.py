"""The APNs reason table (docs/protocols/apns.md §5.2 and §6) on answers the simulator never gives, and
apns-ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from pushgate.providers.apns.client import new_apns_ids
from pushgate.providers.apns.outcomes import classify, classify_exception, parse_error_body
from pushgate.results import Cause, Status
from pushgate.transport import (
    ConnectionLost,
    HTTP2NotNegotiated,
    RequestTimeout,
    Response,
    StreamNotProcessed,
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", (None, None)),
        (b"not json", (None, None)),
        (b"[1]", (None, None)),
        (b'{"reason": 7}', (None, None)),
        (b'{"reason":"Unregistered","timestamp":true}', ("Unregistered", None)),
        (b'{"reason":"Unregistered","timestamp":1e30}', ("Unregistered", None)),
        (b'{"reason":"Unregistered","timestamp":1700000000000}',
         ("Unregistered", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC))),
    ],
)
def test_parse_error_body(body: bytes, expected: tuple[str | None, datetime | None]) -> None:
    assert parse_error_body(body) == expected


def test_success_keeps_the_sent_apns_id() -> None:
    # APNs echoes the apns-id it was sent, so the sent one is used without
    # decoding the echo; the server's own id counts only when none was sent.
    outcome = classify("ab", "given", Response(200, [("apns-id", "echoed")], b""))
    assert (outcome.status, outcome.message_id) == (Status.SENT, "given")
    outcome = classify("ab", None, Response(200, [("apns-id", "made-by-apns")], b""))
    assert outcome.message_id == "made-by-apns"
    outcome = classify("ab", "given", Response(200, [], b""))
    assert outcome.message_id == "given"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (410, b'{"reason":"ExpiredToken"}', (Status.DEAD, None)),
        (502, b"<html>bad gateway</html>", (Status.RETRY, Cause.PROVIDER)),
        (404, b'{"reason":"BadPath"}', (Status.FAILED, Cause.REQUEST)),
        (403, b'{"reason":"UnrelatedKeyIdInToken"}', (Status.FAILED, Cause.CONFIG)),
        (403, b'{"reason":"ExpiredProviderToken"}', (Status.RETRY, Cause.AUTH)),
        (429, b"", (Status.RETRY, Cause.THROTTLED)),
        (302, b"", (Status.FAILED, Cause.REQUEST)),
    ],
)
def test_classify_response(status: int, body: bytes, expected: tuple[Status, Cause | None]) -> None:
    outcome = classify("ab", "id", Response(status, [], body))
    assert (outcome.status, outcome.cause) == expected
    assert outcome.http_status == status


def test_unparsed_body_kept_as_detail() -> None:
    outcome = classify("ab", "id", Response(502, [], b"<html>bad gateway</html>"))
    assert outcome.detail == "<html>bad gateway</html>"


@pytest.mark.parametrize(
    ("exc", "status", "cause"),
    [
        (ConnectionLost("gone"), Status.RETRY, Cause.TRANSPORT),
        (StreamNotProcessed("refused"), Status.RETRY, Cause.TRANSPORT),
        (RequestTimeout("slow"), Status.RETRY, Cause.TRANSPORT),
        (HTTP2NotNegotiated("http/1.1"), Status.FAILED, Cause.CONFIG),
        (RuntimeError("unexpected"), Status.RETRY, Cause.TRANSPORT),
    ],
)
def test_classify_exception(exc: Exception, status: Status, cause: Cause) -> None:
    outcome = classify_exception("ab", "id", exc)
    assert (outcome.status, outcome.cause, outcome.reason) == (status, cause, type(exc).__name__)
    assert outcome.message_id == "id"


def test_apns_ids_made_in_batches_are_canonical_version_4_uuids() -> None:
    ids = new_apns_ids() + new_apns_ids()
    assert len(set(ids)) == len(ids) == 512
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value  # canonical, lowercase
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
