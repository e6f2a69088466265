"""The FCM simulator's state: projects, device tokens, quotas, and Google-shaped errors.

docs/protocols/fcm.md §4 to §6 and §8: errors are a ``google.rpc.Status`` under
``error`` with an ``FcmError`` (and, for APNs relays, an ``ApnsError``)
detail; quotas are per project per rolling minute and per device per
minute and hour.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pushgate.simulators._server import SimResponse

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
APNS_ERROR = "type.googleapis.com/google.firebase.fcm.v1.ApnsError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

# docs/protocols/fcm.md §4.2 and §6 defaults.
PROJECT_PER_MINUTE = 600_000
DEVICE_PER_MINUTE = 240
DEVICE_PER_HOUR = 5_000

INVALID_TOKEN_MESSAGE = "The registration token is not a valid FCM registration token"


class TokenState(StrEnum):
    """What a registered device token answers (docs/protocols/fcm.md §8, token state)."""

    ACTIVE = "active"
    UNREGISTERED = "unregistered"  # 404 UNREGISTERED
    INVALID = "invalid"  # 400 "not a valid FCM registration token"
    APNS_AUTH_ERROR = "apns_auth_error"  # 401 THIRD_PARTY_AUTH_ERROR + ApnsError 403 InvalidProviderToken
    APNS_DISABLED = "apns_disabled"  # 400 INVALID_ARGUMENT + ApnsError 410 Unregistered
    APNS_UNREGISTERED = "apns_unregistered"  # 404 UNREGISTERED + ApnsError 410 Unregistered


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


@dataclass(slots=True)
class Device:
    project_id: str
    platform: Platform = Platform.ANDROID
    state: TokenState = TokenState.ACTIVE


class RollingCount:
    """Events in the last ``window`` seconds, in one-second buckets (minutes
    are not aligned to the wall clock, docs/protocols/fcm.md §4.2 and §6)."""

    __slots__ = ("buckets", "total", "window")

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self.buckets: deque[list[int]] = deque()
        self.total = 0

    def _prune(self, now: float) -> None:
        while self.buckets and self.buckets[0][0] <= now - self.window:
            self.total -= self.buckets.popleft()[1]

    def count(self, now: float) -> int:
        self._prune(now)
        return self.total

    def add(self, now: float) -> None:
        second = int(now)
        if self.buckets and self.buckets[-1][0] == second:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([second, 1])
        self.total += 1

    def free_in(self, now: float) -> float:
        """Seconds until the oldest bucket leaves the window."""
        self._prune(now)
        return max(1.0, self.buckets[0][0] + self.window - now) if self.buckets else 0.0


@dataclass(slots=True)
class Project:
    project_id: str
    per_minute: int = PROJECT_PER_MINUTE
    apns_credential_valid: bool = True
    usage: RollingCount = field(default_factory=RollingCount)


class DeviceQuota:
    """240 a minute and 5,000 an hour per device (docs/protocols/fcm.md §4.2), in fixed windows that
    start with a device's first message, four numbers per device."""

    def __init__(self, per_minute: int = DEVICE_PER_MINUTE, per_hour: int = DEVICE_PER_HOUR) -> None:
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._windows: dict[str, list[float]] = {}

    def over(self, token: str, now: float) -> float | None:
        """Seconds until ``token`` may receive again, or None if it may now."""
        window = self._windows.get(token)
        if window is None:
            return None
        minute_start, minute_count, hour_start, hour_count = window
        if now - hour_start < 3600 and hour_count >= self.per_hour:
            return hour_start + 3600 - now
        if now - minute_start < 60 and minute_count >= self.per_minute:
            return minute_start + 60 - now
        return None

    def add(self, token: str, now: float) -> None:
        window = self._windows.get(token)
        if window is None:
            if len(self._windows) >= 1_000_000:
                self._forget_old(now)
            self._windows[token] = [now, 1, now, 1]
            return
        if now - window[0] >= 60:
            window[0], window[1] = now, 0
        if now - window[2] >= 3600:
            window[2], window[3] = now, 0
        window[1] += 1
        window[3] += 1

    def _forget_old(self, now: float) -> None:
        # A demo or benchmark sink sees endless fresh tokens: drop idle ones.
        for token in [t for t, w in self._windows.items() if now - w[2] >= 3600]:
            del self._windows[token]

    def clear(self) -> None:
        self._windows.clear()


def google_error(
    status: int,
    canonical: str,
    message: str,
    *,
    error_code: str | None = None,
    apns: tuple[int, str] | None = None,
    violations: list[tuple[str, str]] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> SimResponse:
    """A ``google.rpc.Status`` error response (docs/protocols/fcm.md §5)."""
    details: list[dict[str, Any]] = []
    if error_code is not None:
        details.append({"@type": FCM_ERROR, "errorCode": error_code})
    if apns is not None:
        details.append({"@type": APNS_ERROR, "statusCode": apns[0], "reason": apns[1]})
    if violations:
        details.append({
            "@type": BAD_REQUEST,
            "fieldViolations": [{"field": f, "description": d} for f, d in violations],
        })
    error: dict[str, Any] = {"code": status, "message": message, "status": canonical}
    if details:
        error["details"] = details
    return SimResponse.json(status, {"error": error}, headers)


def unauthenticated(missing: bool) -> SimResponse:
    """401 for a missing, unknown or expired OAuth token: no FcmError (docs/protocols/fcm.md §2)."""
    text = (
        "Request is missing required authentication credential. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential."
        if missing
        else "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential."
    )
    return google_error(
        401, "UNAUTHENTICATED", text, headers=[("www-authenticate", 'Bearer realm="https://accounts.google.com/"')]
    )


def token_error(state: TokenState) -> SimResponse | None:
    """The answer for a device token in ``state`` (None when it is active)."""
    if state is TokenState.UNREGISTERED:
        return google_error(404, "NOT_FOUND", "Requested entity was not found.", error_code="UNREGISTERED")
    if state is TokenState.INVALID:
        return google_error(
            400, "INVALID_ARGUMENT", INVALID_TOKEN_MESSAGE, error_code="INVALID_ARGUMENT",
            violations=[("message.token", INVALID_TOKEN_MESSAGE)],
        )
    if state is TokenState.APNS_AUTH_ERROR:
        return google_error(
            401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service",
            error_code="THIRD_PARTY_AUTH_ERROR", apns=(403, "InvalidProviderToken"),
        )
    if state is TokenState.APNS_DISABLED:
        return google_error(
            400, "INVALID_ARGUMENT", "APNs device token is disabled.", error_code="INVALID_ARGUMENT",
            apns=(410, "Unregistered"),
        )
    if state is TokenState.APNS_UNREGISTERED:
        return google_error(
            404, "NOT_FOUND", "Requested entity was not found.", error_code="UNREGISTERED",
            apns=(410, "Unregistered"),
        )
    return None


def quota_exceeded(retry_after: float) -> SimResponse:
    return google_error(
        429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send messages'.",
        error_code="QUOTA_EXCEEDED", headers=[("retry-after", str(max(1, int(retry_after + 0.999))))],
    )


def server_error(status: int, retry_after: str | None = None) -> SimResponse:
    """An injected 5xx (or 429) in Google's shape, optionally with Retry-After."""
    canonical, message, code = {
        500: ("INTERNAL", "Internal error encountered.", "INTERNAL"),
        503: ("UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE"),
        429: ("RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send messages'.", "QUOTA_EXCEEDED"),
        401: ("UNAUTHENTICATED", "Request had invalid authentication credentials.", None),
    }.get(status, ("UNKNOWN", "Unknown error.", None))
    headers = [("retry-after", retry_after)] if retry_after is not None else None
    return google_error(status, canonical, message, error_code=code, headers=headers)
