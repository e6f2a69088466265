"""Web Push answer → :class:`TokenResult` (docs/protocols/webpush.md §1.1, §3, §5 and §6).

200/201/202 SENT (the ``Location`` is the message id); 404 and 410 DEAD;
429 RETRY after ``Retry-After``; 5xx RETRY; 401/403 FAILED with cause
CONFIG (the VAPID key or ``sub``); 400/413 and anything else FAILED with
cause REQUEST.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus

from pushgate.providers._retry_after import parse_retry_after
from pushgate.results import Cause, Status, TokenResult

logger = logging.getLogger("pushgate.webpush")

DETAIL_LIMIT = 300  # characters of a push service's error text kept in a result

__all__ = ["DETAIL_LIMIT", "classify"]


def classify(
    key: str,
    status: int,
    header: Callable[[str], str | None],
    body: bytes,
    *,
    audience: str,
    clock: Callable[[], float],
) -> TokenResult:
    """One answer of the push service at ``audience`` → its outcome.

    ``clock`` is read only when a ``Retry-After`` date has to be turned into a delay.
    """
    if status in (200, 201, 202):
        return TokenResult(key, Status.SENT, message_id=header("location"), http_status=status)
    reason, detail = _reason(status, body)
    if status in (404, 410):
        return TokenResult(key, Status.DEAD, reason=reason, http_status=status, detail=detail)
    if status == 429:
        return TokenResult(key, Status.RETRY, reason=reason, http_status=status, cause=Cause.THROTTLED,
                           retry_after=parse_retry_after(header("retry-after"), clock()), detail=detail)
    if status >= 500:
        return TokenResult(key, Status.RETRY, reason=reason, http_status=status, cause=Cause.PROVIDER,
                           retry_after=parse_retry_after(header("retry-after"), clock()), detail=detail)
    if status in (401, 403):
        # Not retried and not a dead subscription: the VAPID key, its binding
        # to a restricted subscription, or the sub/aud/exp claims are wrong.
        logger.warning("%s rejected our VAPID credentials (%s %s)", audience, status, reason)
        return TokenResult(key, Status.FAILED, reason=reason, http_status=status, cause=Cause.CONFIG,
                           detail=detail)
    return TokenResult(key, Status.FAILED, reason=reason, http_status=status, cause=Cause.REQUEST,
                       detail=detail)


def _reason(status: int, body: bytes) -> tuple[str, str | None]:
    """A reason string: Apple's ``reason``, else the status name; the detail
    carries autopush's ``errno`` and message or the plain-text body."""
    try:
        phrase = HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        phrase = f"HTTP{status}"
    text = body[:DETAIL_LIMIT * 4].decode("utf-8", "replace").strip()
    try:
        data = json.loads(text) if text.startswith("{") else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        reason = data.get("reason")
        if isinstance(reason, str) and reason:
            return reason, None
        if "errno" in data:
            return phrase, f"errno {data.get('errno')}: {data.get('message', '')}"[:DETAIL_LIMIT]
    return phrase, text[:DETAIL_LIMIT] or None
