"""WNS answer → :class:`TokenResult`.

Outcomes (docs/protocols/wns.md §5 and §6):

========================  ===================================================
200 ``received``          SENT, ``message_id`` = ``X-WNS-Msg-ID``
200 ``dropped``           SENT with reason ``dropped``: WNS took the request
                          but will not show it (device offline for a toast,
                          or the client rejected it); retrying would not
                          change that, and the channel is still valid
200 ``channelthrottled``  RETRY (THROTTLED) after ``X-WNS-CONTINUE-AFTER``
404, 410                  DEAD (channel unknown / expired)
401                       token invalidated, RETRY (AUTH) at once; a second
                          401 in a row for the message → FAILED (CONFIG)
403                       FAILED (CONFIG): the token belongs to another app
406                       RETRY (THROTTLED), ``Retry-After`` or backoff
400, 405, 413             FAILED (REQUEST), detail ``X-WNS-Error-Description``
500, 503                  RETRY (PROVIDER)
transport errors          RETRY (TRANSPORT)
========================  ===================================================

``reason`` is ``ChannelNotFound`` (404), ``ChannelExpired`` (410),
``ThrottleLimitExceeded`` (406), ``channelthrottled``, ``dropped``, or else
the HTTP reason phrase without spaces (``Forbidden``, ``BadRequest``).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import httpx

from pushgate.providers._retry_after import parse_retry_after
from pushgate.results import Cause, Status, TokenResult

logger = logging.getLogger("pushgate.wns")

# X-WNS-Status values (docs/protocols/wns.md §3.2); older docs name the header X-WNS-NotificationStatus.
RECEIVED, DROPPED, CHANNEL_THROTTLED = "received", "dropped", "channelthrottled"
DEAD_STATUSES = frozenset({404, 410})
RETRY_STATUSES = frozenset({500, 503})
# Reasons that say more than the HTTP phrase; other statuses use the phrase ("BadRequest").
REASONS = {404: "ChannelNotFound", 406: "ThrottleLimitExceeded", 410: "ChannelExpired"}


def classify(channel: str, response: httpx.Response, now: float) -> TokenResult:
    """The outcome of one WNS response (docs/protocols/wns.md §3.2, §5 and §6)."""
    status = response.status_code
    headers = response.headers
    msg_id = headers.get("x-wns-msg-id")
    error = headers.get("x-wns-error-description") or headers.get("x-wns-debug-trace")
    reason = REASONS.get(status)
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase.replace(" ", "")
        except ValueError:
            reason = f"HTTP{status}"
    if status == 200:
        wns_status = (headers.get("x-wns-status") or headers.get("x-wns-notificationstatus") or "")
        wns_status = wns_status.strip().lower()
        if wns_status == CHANNEL_THROTTLED:
            return TokenResult(
                channel, Status.RETRY, message_id=msg_id, reason=CHANNEL_THROTTLED, http_status=200,
                cause=Cause.THROTTLED,
                retry_after=parse_retry_after(headers.get("x-wns-continue-after"), now),
            )
        return TokenResult(
            channel, Status.SENT, message_id=msg_id, reason=DROPPED if wns_status == DROPPED else None,
            http_status=200, detail=headers.get("x-wns-deviceconnectionstatus"),
        )
    result = TokenResult(channel, Status.FAILED, message_id=msg_id, reason=reason, http_status=status,
                         cause=Cause.REQUEST, detail=error)
    if status in DEAD_STATUSES:
        result.status, result.cause = Status.DEAD, None
        logger.debug("wns: channel gone (%d)", status)
    elif status == 401:
        result.status, result.cause, result.retry_after = Status.RETRY, Cause.AUTH, 0.0
    elif status == 403:
        result.cause = Cause.CONFIG
    elif status in (406, 429):
        result.status, result.cause = Status.RETRY, Cause.THROTTLED
        result.retry_after = parse_retry_after(headers.get("retry-after"), now)
    elif status in RETRY_STATUSES or status >= 500:
        result.status, result.cause = Status.RETRY, Cause.PROVIDER
        result.retry_after = parse_retry_after(headers.get("retry-after"), now)
    return result
