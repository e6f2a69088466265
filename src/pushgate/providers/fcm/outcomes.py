"""FCM answers → :class:`TokenResult` (docs/protocols/fcm.md §4.2, §5 and §6).

The error body is a ``google.rpc.Status`` whose ``details`` may hold an
``FcmError`` (``errorCode``), an ``ApnsError`` (APNs' status and reason,
relayed) and a ``BadRequest`` (``fieldViolations``). It is parsed
defensively: proxies and load balancers answer with HTML or nothing.

| answer | outcome |
|---|---|
| 200 | SENT, ``message_id`` = the message ``name`` |
| any ApnsError ``Unregistered`` | DEAD, whatever the errorCode (docs/protocols/fcm.md §5 nuances) |
| 404 UNREGISTERED, 403 SENDER_ID_MISMATCH | DEAD |
| 400 "not a valid FCM registration token" | DEAD |
| 401 THIRD_PARTY_AUTH_ERROR | FAILED, CONFIG |
| 401 without FcmError | RETRY, AUTH (the client refreshes its OAuth token) |
| other 403 / 404 | FAILED, CONFIG (project or permission) |
| 429 | RETRY, THROTTLED, after at least 60 s |
| 5xx | RETRY, PROVIDER, honouring Retry-After |
| other 4xx | FAILED, REQUEST, field violations in ``detail`` |
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pushgate.providers._retry_after import parse_retry_after
from pushgate.results import Cause, Status, TokenResult

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
APNS_ERROR = "type.googleapis.com/google.firebase.fcm.v1.ApnsError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
QUOTA_MIN_DELAY = 60.0  # docs/protocols/fcm.md §5: QUOTA_EXCEEDED retries wait at least a minute
# the old alias (docs/protocols/fcm.md §5)
THIRD_PARTY_AUTH = frozenset({"THIRD_PARTY_AUTH_ERROR", "APNS_AUTH_ERROR"})
_INVALID_TOKEN_TEXT = "not a valid fcm registration token"


@dataclass(slots=True)
class FcmErrorInfo:
    """What an error body says; every field may be missing."""

    code: int | None = None
    status: str | None = None  # canonical status, e.g. NOT_FOUND
    message: str = ""
    error_code: str | None = None  # FcmError.errorCode
    apns_status: int | None = None
    apns_reason: str | None = None
    violations: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [self.message] if self.message else []
        parts.extend(self.violations)
        return "; ".join(parts)[:1000]


def parse_error(body: bytes) -> FcmErrorInfo:
    """Parse a ``google.rpc.Status`` error body; anything else gives its text as the message."""
    info = FcmErrorInfo()
    try:
        decoded: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        info.message = body[:200].decode("utf-8", errors="replace").strip()
        return info
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if not isinstance(error, dict):
        info.message = str(decoded)[:200]
        return info
    code = error.get("code")
    info.code = code if isinstance(code, int) else None
    info.status = error.get("status") if isinstance(error.get("status"), str) else None
    info.message = str(error.get("message") or "")[:500]
    details = error.get("details")
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        kind = detail.get("@type")
        if kind == FCM_ERROR and isinstance(detail.get("errorCode"), str):
            info.error_code = detail["errorCode"]
        elif kind == APNS_ERROR:
            status = detail.get("statusCode")
            info.apns_status = status if isinstance(status, int) else None
            reason = detail.get("reason")
            info.apns_reason = reason if isinstance(reason, str) else None
        elif kind == BAD_REQUEST and isinstance(detail.get("fieldViolations"), list):
            for violation in detail["fieldViolations"]:
                if isinstance(violation, dict):
                    where, what = violation.get("field", ""), violation.get("description", "")
                    info.violations.append(f"{where}: {what}")
    return info


def classify(
    status: int, body: bytes, retry_after: str | None, token: str, now: float
) -> TokenResult:
    """One answer → one outcome. A 401 without FcmError comes back as RETRY
    with cause AUTH; the client decides whether to refresh or give up."""
    if status == 200:
        name: str | None = None
        try:
            decoded = json.loads(body)
            name = decoded.get("name") if isinstance(decoded, dict) else None
        except (ValueError, UnicodeDecodeError):
            pass
        return TokenResult(token, Status.SENT, message_id=name if isinstance(name, str) else None,
                           http_status=200)
    info = parse_error(body)
    reason = info.error_code or info.status or str(status)

    def result(
        outcome: Status, cause: Cause | None, why: str = reason, after: float | None = None
    ) -> TokenResult:
        return TokenResult(token, outcome, reason=why, http_status=status, cause=cause,
                           retry_after=after, detail=info.describe() or None)

    if info.apns_reason == "Unregistered":
        return result(Status.DEAD, None, "Unregistered")
    if (status == 404 and info.error_code == "UNREGISTERED") or (
        status == 403 and info.error_code == "SENDER_ID_MISMATCH"
    ):
        return result(Status.DEAD, None)
    if status == 400 and _INVALID_TOKEN_TEXT in info.message.lower():
        return result(Status.DEAD, None)
    if status == 401:
        if info.error_code in THIRD_PARTY_AUTH:
            return result(Status.FAILED, Cause.CONFIG)
        if info.error_code is None:
            return result(Status.RETRY, Cause.AUTH, "UNAUTHENTICATED", 0.0)
        return result(Status.FAILED, Cause.CONFIG)
    if status in (403, 404):
        return result(Status.FAILED, Cause.CONFIG)
    if status == 429:
        delay = max(QUOTA_MIN_DELAY, parse_retry_after(retry_after, now) or 0.0)
        return result(Status.RETRY, Cause.THROTTLED, after=delay)
    if status >= 500:
        return result(Status.RETRY, Cause.PROVIDER, after=parse_retry_after(retry_after, now))
    return result(Status.FAILED, Cause.REQUEST)
