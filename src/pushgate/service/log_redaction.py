"""Device tokens stay out of logs.

httpx logs every request at INFO with its full URL; for WNS and Web Push the
URL is the device's channel URI or subscription endpoint, a credential to
push to that device. The filter shortens such URLs the way the API shows
tokens in delivery lists (the origin and the last few characters), so a log
line still tells deliveries apart without holding a usable token.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

SHOWN = 8  # characters kept at the end, as in the API's delivery lists


def shorten_url(url: str) -> str:
    """``https://host/…<last 8>``: enough to recognise, not enough to use."""
    parts = urlsplit(url)
    rest = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    if len(rest) <= SHOWN:
        return url
    return f"{parts.scheme}://{parts.netloc}/…{rest[-SHOWN:]}"


class ShortenTokenURLs(logging.Filter):
    """Shortens URL arguments of a log record (httpx passes its URL as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                shorten_url(str(arg)) if _is_url(arg) else arg for arg in record.args
            )
        return True


def _is_url(value: object) -> bool:
    text = str(value) if type(value).__name__ == "URL" or isinstance(value, str) else ""
    return text.startswith(("https://", "http://"))


def install() -> None:
    """Attach the filter to the loggers that print request URLs (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, ShortenTokenURLs) for f in logger.filters):
        logger.addFilter(ShortenTokenURLs())
