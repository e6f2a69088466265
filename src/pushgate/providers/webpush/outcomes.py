"""Web Push answer → :class:`TokenResult` (docs/protocols/webpush.md §1.1, §3, §5 and §6).

200/201/202 SENT (the ``Location`` is the message id); 404 and 410 DEAD;
429 RETRY after ``Retry-After``; 5xx RETRY; a 401/403 that names a
subscription bound to another VAPID key DEAD with cause CONFIG (the
subscription can never take this key: RFC 8292 §4.2); any other 401/403
FAILED with cause CONFIG (the VAPID key or ``sub``); 400/413 and anything
else FAILED with cause REQUEST.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import fields
from http import HTTPStatus
from operator import attrgetter
from typing import Any

from pushgate.providers._retry_after import parse_retry_after
from pushgate.results import Cause, Status, TokenResult
from pushgate.transport.hpack_decode import Field
from pushgate.transport.response import header_text

logger = logging.getLogger("pushgate.webpush")

DETAIL_LIMIT = 300  # characters of a push service's error text kept in a result

# How each push service says "this subscription is restricted to another key" (RFC 8292 §4.2;
# docs/protocols/webpush.md §5): Apple's reason, autopush's errno 109 message, FCM's two texts.
APPLE_KEY_MISMATCH = "VapidPkHashMismatch"
KEY_MISMATCH = "VapidKeyMismatch"  # pushgate's reason where the service names none
_MISMATCH_TEXTS = (
    "vapid public key mismatch",  # Mozilla autopush (401, errno 109)
    "do not correspond to the credentials used to create the subscription",  # FCM (403)
    "does not correspond to the sender id used to subscribe",  # FCM, older wording (403)
)

__all__ = ["APPLE_KEY_MISMATCH", "DETAIL_LIMIT", "KEY_MISMATCH", "Sent", "classify", "is_key_mismatch"]

# The slot itself (a member descriptor), under Sent's property.
_message_id: Any = TokenResult.__dict__["message_id"]
_values = attrgetter(*(f.name for f in fields(TokenResult)))


class Sent(TokenResult):
    """A SENT outcome whose ``message_id``, the answer's ``Location``, is decoded when first read.

    Push services Huffman-code the ``Location`` (RFC 7541 §5.2), a URL unique to each
    message, and decoding it in Python was the largest part of a Web Push request
    after the encryption: 28,000 of the 149,000 instructions (callgrind) that a send
    costs besides RFC 8291 (bench/client_cpu.py webpush), more for the longer URLs of
    some services. Most callers look only at the status, so the coded octets are kept
    and decoded the first time ``message_id`` is read; a bad coding reads as U+FFFD,
    as :meth:`Response.header` has it. Otherwise it is a :class:`TokenResult`: equal
    to one with the same fields, and shown, copied and pickled as one.
    """

    __slots__ = ("_location",)
    _location: bytes | None  # Huffman-coded octets not decoded yet

    @classmethod
    def from_location(cls, key: str, http_status: int, location: Field | None) -> Sent:
        """``location``: the answer's ``Location`` field as the HPACK decoder gave it, or None.

        Only the coded octets are kept (``bytes``, which the garbage collector does
        not track), not the field's tuple: one tracked object per result, as before."""
        result = cls(key, Status.SENT, http_status=http_status)
        if location is not None:
            if location[2]:
                result._location = location[1]
            else:
                result.message_id = header_text(location[1], False)
        return result

    @property  # a field of TokenResult, read through this property
    def message_id(self) -> str | None:
        location = self._location
        if location is not None:
            self._location = None
            _message_id.__set__(self, header_text(location, True))
        value: str | None = _message_id.__get__(self)
        return value

    @message_id.setter
    def message_id(self, value: str | None) -> None:
        self._location = None
        _message_id.__set__(self, value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TokenResult):
            return bool(_values(self) == _values(other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # as TokenResult's

    def __repr__(self) -> str:
        return repr(TokenResult(*_values(self)))

    def __reduce__(self) -> tuple[Any, ...]:  # pickled and copied as the plain TokenResult it equals
        return TokenResult, _values(self)


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
        if is_key_mismatch(reason, detail):
            # The subscription is restricted to another application server key (one made
            # before the app's key was replaced): that device alone, never the app's lane.
            named = reason if reason == APPLE_KEY_MISMATCH else KEY_MISMATCH
            return TokenResult(key, Status.DEAD, reason=named, http_status=status, cause=Cause.CONFIG,
                               detail=detail)
        # Not retried and not a dead subscription: the VAPID key or the sub/aud/exp
        # claims are wrong (or a binding the service does not name: docs/protocols/webpush.md §6).
        logger.warning("%s rejected our VAPID credentials (%s %s)", audience, status, reason)
        return TokenResult(key, Status.FAILED, reason=reason, http_status=status, cause=Cause.CONFIG,
                           detail=detail)
    return TokenResult(key, Status.FAILED, reason=reason, http_status=status, cause=Cause.REQUEST,
                       detail=detail)


def is_key_mismatch(reason: str, detail: str | None) -> bool:
    """Whether a 401/403 says the subscription is bound to another VAPID key."""
    if reason == APPLE_KEY_MISMATCH:
        return True
    text = (detail or "").lower()
    return any(marker in text for marker in _MISMATCH_TEXTS)


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
