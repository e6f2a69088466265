"""Reading a provider's Retry-After: the one parser every client uses.

RFC 9110 §10.2.3: ``Retry-After = HTTP-date / delay-seconds``. FCM, Web
Push services and WNS send it with 429 and 5xx answers (WNS also sends
``X-WNS-CONTINUE-AFTER`` in the same shape, and its token endpoint a
Retry-After).
"""

from __future__ import annotations

import re
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

# delay-seconds is 1*DIGIT; a fraction is accepted too (harmless, and some servers send one).
_SECONDS: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from ``now`` (epoch seconds) until the retry the value asks for.

    None when the header is absent or unreadable (a negative number is not
    delay-seconds): the caller's own backoff decides then. A date in the
    past is 0. An HTTP-date is GMT by definition, so one parsed without a
    zone is taken as UTC.
    """
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


__all__ = ["parse_retry_after"]
