"""Size limits and UTF-8-safe trimming, shared by every payload builder.

Providers count the encoded body in bytes (docs/protocols/apns.md §4, fcm.md §4.2, webpush.md §4 and
wns.md §5). A builder either raises :class:`PayloadTooLarge` before anything is
sent, or, when the caller opted in with a maximum size, shortens the body
text until the payload fits (what pushjack and Sygnal do).
"""

from __future__ import annotations

from collections.abc import Callable

from pushgate.errors import PayloadTooLarge

ELLIPSIS = "…"


def trim_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits ``max_bytes``."""
    if max_bytes <= 0:
        return ""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    # errors="ignore" drops a multi-byte character cut in half at the end.
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def fit(
    build: Callable[[str | None], bytes],
    body: str | None,
    *,
    provider: str,
    limit: int,
    max_size: int | None,
) -> bytes:
    """Build the payload; trim ``body`` if needed and allowed.

    :param build: makes the payload from a (possibly shortened) body text.
    :param limit: the provider's hard limit in bytes.
    :param max_size: the caller's opt-in maximum; ``None`` means never trim.
    """
    payload = build(body)
    target = limit if max_size is None else min(limit, max_size)
    if len(payload) <= target:
        return payload
    if max_size is None or not body:
        raise PayloadTooLarge(provider, len(payload), target)
    # Escaping can make one text byte cost several payload bytes (XML "&amp;",
    # JSON "\\n"), and the payload grows with the kept prefix, so search for
    # the longest prefix that fits instead of estimating it.
    best: bytes | None = None
    low, high = 0, len(body.encode("utf-8")) - 1
    while low <= high:
        keep = (low + high) // 2
        candidate = build(trim_utf8(body, keep) + ELLIPSIS)
        if len(candidate) <= target:
            best, low = candidate, keep + 1
        else:
            high = keep - 1
    if best is not None:
        return best
    payload = build("")
    if len(payload) <= target:
        return payload
    raise PayloadTooLarge(provider, len(payload), target)
