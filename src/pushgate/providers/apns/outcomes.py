"""APNs answer → :class:`TokenResult`: the reason table of docs/protocols/apns.md §5.2 and §6.

Sorted by what the caller does next:

- DEAD: delete the token (Unregistered, ExpiredToken, BadDeviceToken,
  DeviceTokenNotForTopic).
- RETRY: try again, on a new connection where the connection was the
  problem (429 TooManyRequests, 5xx, IdleTimeout, Shutdown, transport errors).
- RETRY with cause AUTH: the provider token must change (ExpiredProviderToken,
  retried at once with a new one) or must *not* change yet
  (TooManyProviderTokenUpdates, retried after backoff with the same one).
- FAILED with cause CONFIG: our key, certificate, topic or environment is
  wrong; retrying will not help and deleting tokens would be a disaster.
- FAILED with cause REQUEST: our request is malformed (a bug).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final

from pushgate.providers._tls import certificate_outcome
from pushgate.results import Cause, Status, TokenResult
from pushgate.transport import HTTP2NotNegotiated, Response

DEAD_REASONS: Final = frozenset(
    {"Unregistered", "ExpiredToken", "BadDeviceToken", "DeviceTokenNotForTopic"}
)
CONFIG_REASONS: Final = frozenset(
    {
        "BadCertificate",
        "BadCertificateEnvironment",
        "BadTopic",
        "TopicDisallowed",
        "MissingTopic",
        "Forbidden",
        "InvalidProviderToken",
        "UnrelatedKeyIdInToken",
        # Real answers spell it "...KeyIn..."; some lists "...KeyIdIn..."
        # (docs/protocols/apns.md §5.2 and §6).
        "BadEnvironmentKeyInToken",
        "BadEnvironmentKeyIdInToken",
    }
)
EXPIRED_PROVIDER_TOKEN: Final = "ExpiredProviderToken"
TOO_MANY_TOKEN_UPDATES: Final = "TooManyProviderTokenUpdates"
# Answers that ask for a new connection; the pool opens one on the next request.
CONNECTION_REASONS: Final = frozenset({"IdleTimeout", "Shutdown"})


def parse_error_body(body: bytes) -> tuple[str | None, datetime | None]:
    """``reason`` and, for 410, the ``timestamp`` (ms since the epoch) of an error body."""
    if not body:
        return None, None
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    reason = data.get("reason")
    stamp = data.get("timestamp")
    when: datetime | None = None
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            when = datetime.fromtimestamp(stamp / 1000.0, UTC)
        except (OverflowError, OSError, ValueError):
            when = None
    return (reason if isinstance(reason, str) else None), when


def classify(token: str, message_id: str | None, response: Response) -> TokenResult:
    """One HTTP answer → its outcome (the 403 ExpiredProviderToken side effect is the caller's)."""
    status = response.status
    if status == 200:
        # APNs echoes the apns-id it was sent; it makes one only when none was sent.
        return TokenResult(token, Status.SENT, message_id=message_id or response.header("apns-id"),
                           http_status=200)
    reason, when = parse_error_body(response.body)
    result = TokenResult(token, Status.FAILED, message_id=message_id, reason=reason, http_status=status,
                         cause=Cause.REQUEST)
    if reason in DEAD_REASONS and status in (400, 410):
        result.status = Status.DEAD
        result.cause = None
        result.timestamp = when
    elif reason == EXPIRED_PROVIDER_TOKEN:
        result.status, result.cause, result.retry_after = Status.RETRY, Cause.AUTH, 0.0
    elif reason == TOO_MANY_TOKEN_UPDATES:
        result.status, result.cause = Status.RETRY, Cause.AUTH
    elif reason in CONFIG_REASONS:
        result.cause = Cause.CONFIG
    elif status == 429:
        result.status, result.cause = Status.RETRY, Cause.THROTTLED
    elif status >= 500:
        result.status, result.cause = Status.RETRY, Cause.PROVIDER
    elif reason in CONNECTION_REASONS:
        result.status, result.cause = Status.RETRY, Cause.TRANSPORT
    if result.status is not Status.DEAD and reason is None and response.body:
        result.detail = response.body[:200].decode("utf-8", "replace")
    return result


def classify_exception(token: str, message_id: str | None, exc: BaseException) -> TokenResult:
    """A transport failure → its outcome; nothing from below leaks as an exception."""
    untrusted = certificate_outcome(token, exc, message_id)
    if untrusted is not None:
        return untrusted
    if isinstance(exc, HTTP2NotNegotiated):
        # The server does not speak HTTP/2: a wrong URL, not a passing fault.
        cause, status = Cause.CONFIG, Status.FAILED
    else:
        # Every other failure (dropped, refused, timed out, unexpected) is
        # worth another try on a fresh connection; the retry limit bounds it.
        cause, status = Cause.TRANSPORT, Status.RETRY
    return TokenResult(token, status, message_id=message_id, reason=type(exc).__name__, cause=cause,
                       detail=str(exc)[:200] or None)
