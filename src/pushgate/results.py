"""Per-token outcomes and the batch result.

A dead token is data, never an exception: every send returns a
:class:`BatchResult` with one :class:`TokenResult` per token, and the
properties pushjack users know (``tokens``, ``successes``, ``failures``,
``errors``, ``token_errors``) plus ``dead_tokens`` and ``retryable``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    SENT = "sent"  # accepted by the provider (not the same as shown on the device)
    DEAD = "dead"  # the token/subscription/channel is gone: deactivate it
    RETRY = "retry"  # temporary: try again after ``retry_after``
    FAILED = "failed"  # permanent for this message; see ``cause``


class Cause(StrEnum):
    """Why a FAILED (or RETRY) outcome happened, sorted by who must act.

    A DEAD outcome with cause CONFIG is a token dead for these credentials
    only: a Web Push subscription restricted to another VAPID key (RFC 8292
    §4.2; docs/protocols/webpush.md §6.1).
    """

    REQUEST = "request"  # our request was malformed or too large: a bug, do not retry
    CONFIG = "config"  # credentials, topic or environment are wrong: fix config, pause sending
    AUTH = "auth"  # an auth token must be refreshed (handled inside the client)
    THROTTLED = "throttled"  # rate limited by the provider
    PROVIDER = "provider"  # provider-side 5xx / unavailable
    TRANSPORT = "transport"  # connection dropped, timeout, GOAWAY
    EXPIRED = "expired"  # the notification expired before it could be sent


@dataclass(slots=True)
class TokenResult:
    """The outcome of one notification to one token."""

    token: str
    status: Status
    message_id: str | None = None  # apns-id, FCM message name, Web Push Location, X-WNS-Msg-ID
    reason: str | None = None  # the provider's reason string, e.g. "Unregistered"
    http_status: int | None = None
    cause: Cause | None = None
    timestamp: datetime | None = None  # provider's "inactive since" time (APNs 410)
    retry_after: float | None = None  # seconds, from Retry-After or backoff
    attempts: int = 1
    detail: str | None = None  # a human-readable explanation
    latency: float | None = None  # seconds from submit to answer, last attempt

    @property
    def ok(self) -> bool:
        return self.status is Status.SENT


@dataclass(slots=True)
class BatchResult:
    """All outcomes of one send, in the order tokens were given."""

    results: list[TokenResult] = field(default_factory=list)

    def __iter__(self) -> Iterator[TokenResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def extend(self, more: Iterable[TokenResult]) -> None:
        self.results.extend(more)

    @property
    def tokens(self) -> list[str]:
        return [r.token for r in self.results]

    @property
    def successes(self) -> list[str]:
        return [r.token for r in self.results if r.status is Status.SENT]

    @property
    def failures(self) -> list[str]:
        return [r.token for r in self.results if r.status is not Status.SENT]

    @property
    def dead_tokens(self) -> list[str]:
        return [r.token for r in self.results if r.status is Status.DEAD]

    @property
    def retryable(self) -> list[str]:
        return [r.token for r in self.results if r.status is Status.RETRY]

    @property
    def errors(self) -> list[TokenResult]:
        return [r for r in self.results if r.status is not Status.SENT]

    @property
    def token_errors(self) -> dict[str, str]:
        """token → reason for every token that was not sent."""
        return {
            r.token: r.reason or r.cause or r.status
            for r in self.results
            if r.status is not Status.SENT
        }

    @property
    def by_token(self) -> dict[str, TokenResult]:
        return {r.token: r for r in self.results}

    @property
    def ok(self) -> bool:
        return all(r.status is Status.SENT for r in self.results)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s.value}={self.count(s)}" for s in Status)
        return f"BatchResult({counts})"
