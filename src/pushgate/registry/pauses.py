"""Paused providers: an app whose credentials a provider rejected stops sending there.

When APNs answers ``InvalidProviderToken``, FCM's token endpoint refuses the
service account, or WNS says the client secret is wrong, every further
request would fail the same way; sending the rest of a million-device send
only burns the queue and may get the sender blocked. So the worker *pauses*
the (app, provider) pair: its jobs are deferred, untouched, until the pause
ends (1 minute, doubling per failed probe up to an hour) or the app's
credentials change — whichever comes first. The API shows the pause and the
provider's error on ``GET /v1/app``.

Storage: the pause lives with the credentials it is about, in the
credentials row's ``config`` under the reserved key ``_pause`` (a name the
credential validation never produces and the client builder ignores). That
gives the one rule that matters for free: storing new credentials replaces
the config, and with it the pause. A pause is only recorded against the
credentials *version* (``updated_at``) the failing client was built from, so
a worker still holding the old client cannot pause freshly fixed
credentials. Nothing here is a secret: the error is the provider's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from pushgate.registry.models import Credentials

PAUSE_KEY = "_pause"
FIRST_PAUSE_SECONDS = 60.0
MAX_PAUSE_SECONDS = 3600.0
MAX_ERROR_LENGTH = 300


@dataclass(frozen=True, slots=True)
class ProviderPause:
    """One paused (app, provider) pair; times are epoch seconds."""

    app_id: int
    provider: str
    error: str  # the provider's answer, e.g. "InvalidProviderToken"
    paused_at: float
    until: float
    strikes: int  # consecutive pauses without a successful send in between

    def active(self, now: float) -> bool:
        return now < self.until

    @property
    def until_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.until, UTC)

    @classmethod
    def from_record(cls, app_id: int, provider: str, record: Any) -> ProviderPause | None:
        if not isinstance(record, dict):
            return None
        try:
            return cls(app_id, provider, str(record["error"]), float(record["paused_at"]),
                       float(record["until"]), int(record["strikes"]))
        except (KeyError, TypeError, ValueError):
            return None

    def record(self) -> dict[str, Any]:
        return {"error": self.error, "paused_at": self.paused_at, "until": self.until,
                "strikes": self.strikes}


def pause_length(
    strikes: int, *, first: float = FIRST_PAUSE_SECONDS, cap: float = MAX_PAUSE_SECONDS
) -> float:
    """1 min, 2 min, 4 min … capped at an hour."""
    return float(min(cap, first * 2 ** max(0, strikes - 1)))


def pause_provider(
    session: Session,
    app_id: int,
    provider: str,
    error: str,
    *,
    version: datetime,
    now: float,
    first: float = FIRST_PAUSE_SECONDS,
    cap: float = MAX_PAUSE_SECONDS,
) -> ProviderPause | None:
    """Pause (app, provider) after a credential error seen with credentials ``version``.

    A pause still running is returned as is (many jobs report the same
    failure at once; they must not stretch it). An expired one counts as a
    failed probe: the next pause is twice as long. Returns None when the
    credentials changed since ``version`` or are gone (nothing to pause).
    """
    row = session.get(Credentials, (app_id, provider), with_for_update=True)
    if row is None or row.updated_at != version:
        return None
    previous = ProviderPause.from_record(app_id, provider, (row.config or {}).get(PAUSE_KEY))
    if previous is not None and previous.active(now):
        return previous
    strikes = previous.strikes + 1 if previous is not None else 1
    pause = ProviderPause(app_id, provider, error[:MAX_ERROR_LENGTH], now,
                          now + pause_length(strikes, first=first, cap=cap), strikes)
    row.config = {**row.config, PAUSE_KEY: pause.record()}
    return pause


def clear_pause(session: Session, app_id: int, provider: str) -> bool:
    """End a pause (a send went through after it); True if there was one."""
    row = session.get(Credentials, (app_id, provider), with_for_update=True)
    if row is None or PAUSE_KEY not in (row.config or {}):
        return False
    row.config = {k: v for k, v in row.config.items() if k != PAUSE_KEY}
    return True


def app_pauses(session: Session, app_id: int) -> dict[str, ProviderPause]:
    """The app's recorded pauses by provider, running or expired (check ``active(now)``)."""
    rows = session.execute(
        select(Credentials.provider, Credentials.config).where(Credentials.app_id == app_id)
    )
    out: dict[str, ProviderPause] = {}
    for provider, config in rows:
        pause = ProviderPause.from_record(app_id, provider, (config or {}).get(PAUSE_KEY))
        if pause is not None:
            out[provider] = pause
    return out


def all_pauses(session: Session) -> list[ProviderPause]:
    """Every recorded pause (workers poll this; there are few credentials rows)."""
    rows = session.execute(
        select(Credentials.app_id, Credentials.provider, Credentials.config).where(
            cast(Credentials.config, Text).like(f'%"{PAUSE_KEY}"%')  # skip reading the others' secrets
        )
    )
    out: list[ProviderPause] = []
    for app_id, provider, config in rows:
        if isinstance(config, dict) and PAUSE_KEY in config:
            pause = ProviderPause.from_record(app_id, provider, config[PAUSE_KEY])
            if pause is not None:
                out.append(pause)
    return out


__all__ = [
    "FIRST_PAUSE_SECONDS",
    "MAX_PAUSE_SECONDS",
    "PAUSE_KEY",
    "ProviderPause",
    "all_pauses",
    "app_pauses",
    "clear_pause",
    "pause_length",
    "pause_provider",
]
