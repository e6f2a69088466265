"""Retry-After (RFC 9110 §10.2.3), read the same way for FCM, Web Push and WNS."""

from __future__ import annotations

import pytest

from pushgate.providers._retry_after import parse_retry_after

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("120", 120.0),
        (" 12 ", 12.0),
        ("1.5", 1.5),  # not delay-seconds strictly, but unambiguous
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),
        ("Thu, 01 Jan 2026 00:00:30 -0000", 30.0),  # no zone given: an HTTP-date is GMT
        ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("", None),
        ("-5", None),  # not delay-seconds: the caller's backoff decides
        ("nan", None),
        ("inf", None),
        ("\u00b2", None),  # a digit to str.isdigit, not to RFC 9110
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds
