"""Notification → WNS request body and headers (docs/protocols/wns.md §1, §3.1 and §4).

Which WNS type is sent:

- the ``wns`` override's ``type`` wins, else the root element of its ``xml``;
- ``silent=True`` → ``wns/raw``: ``data`` as compact JSON bytes
  (``application/octet-stream``);
- visible content (title, body, subtitle or a loc key) → ``wns/toast``;
- only a ``badge`` and no ``data`` → ``wns/badge`` (``<badge value="N"/>``);
- anything else (data-only) → ``wns/raw``.

The bodies themselves (toast, tile and badge XML, the raw body, and what text
XML can carry) are built in :mod:`pushgate.providers.wns.bodies`.

Headers: ``X-WNS-Type``, ``Content-Type``, ``X-WNS-TTL`` (from
:meth:`Notification.ttl_seconds`), ``X-WNS-Tag`` from ``collapse_key`` (toast
and tile) and ``X-WNS-Group`` from ``thread_id`` (toast), and
``X-WNS-RequestForStatus: true`` when asked. WNS allows at most 16
characters in a tag or group; a longer key (or one that is not printable
ASCII) is replaced by a stable 16-character digest (:func:`short_label`), so
equal keys still replace each other on the device instead of failing the
send.

The ``wns`` override (every key optional; unknown keys are an error)::

    {"type": "wns/toast" | "wns/tile" | "wns/badge" | "wns/raw",  # "toast" etc. also accepted
     "xml": "<tile>…</tile>",   # used as-is after a well-formedness check
     "headers": {"X-WNS-Cache-Policy": "cache", "X-WNS-TTL": None, …},  # merged last; None removes
     "launch": "app-defined-args",
     "template": "TileWide" | ["TileMedium", "TileWide"],  # tile bindings (default medium/wide/large)
     "value": 7 | "alert",      # badge number or glyph
     "scenario": "reminder" | "alarm" | "incomingCall" | "urgent",
     "duration": "short" | "long",
     "raw": "text"}             # raw body, sent as UTF-8 instead of the data JSON

The body is at most 5000 bytes (docs/protocols/wns.md §5, 413); :func:`build_payload` raises
:class:`PayloadTooLarge` before sending, or trims the body text when the
caller opted in with ``max_size`` (:func:`pushgate.providers._payload_fit.fit`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any

from pushgate.errors import InvalidNotification
from pushgate.notification import Notification
from pushgate.providers._payload_fit import fit
from pushgate.providers.wns.bodies import badge_body, override_str, parse_xml, raw_body, tile_body, toast_body

WNS_MAX_PAYLOAD = 5000  # bytes, docs/protocols/wns.md §5 (413)
LABEL_MAX = 16  # X-WNS-Tag / X-WNS-Group characters, docs/protocols/wns.md §1 and §3.1
CACHE_POLICIES = frozenset({"cache", "no-cache"})
OVERRIDE_KEYS = frozenset(
    {"type", "xml", "headers", "launch", "template", "value", "scenario", "duration", "raw"}
)
# Headers the builder or the client own; an override may not set them.
RESERVED_HEADERS = frozenset(
    {"authorization", "content-type", "content-length", "x-wns-type", "host", "transfer-encoding",
     "expect", "connection"}
)


class WNSType(StrEnum):
    TOAST = "wns/toast"
    TILE = "wns/tile"
    BADGE = "wns/badge"
    RAW = "wns/raw"

    @property
    def content_type(self) -> str:
        return "application/octet-stream" if self is WNSType.RAW else "text/xml"

    @property
    def root(self) -> str | None:
        """The XML root element this type needs (None for raw)."""
        return None if self is WNSType.RAW else self.value.removeprefix("wns/")


@dataclass(frozen=True, slots=True)
class WNSPayload:
    """The token-independent part of one WNS request."""

    type: WNSType
    body: bytes
    headers: tuple[tuple[str, str], ...]  # all but Authorization / Content-Length


# -- tags, groups and header values ---------------------------------------------------

_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2 token
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")


def short_label(value: str) -> str:
    """``value`` if it is a valid tag/group, else a stable 16-character digest."""
    if len(value) <= LABEL_MAX and _PRINTABLE_ASCII.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()[:10]
    return base64.b32encode(digest).decode("ascii").lower()


# -- type, headers, entry point -------------------------------------------------------


def _resolve_type(n: Notification, ov: Mapping[str, Any]) -> tuple[WNSType, bytes | None]:
    """The WNS type, and the override XML (checked) if one was given."""
    wns_type: WNSType | None = None
    name = override_str(ov, "type")
    if name is not None:
        try:
            wns_type = WNSType(name if name.startswith("wns/") else f"wns/{name}")
        except ValueError:
            raise InvalidNotification(f"unknown WNS type {name!r}", field="wns.type") from None
    xml = override_str(ov, "xml")
    if xml is None:
        if wns_type is None:
            if n.silent:
                wns_type = WNSType.RAW
            elif n.has_alert:
                wns_type = WNSType.TOAST
            elif n.badge is not None and not n.data:
                wns_type = WNSType.BADGE
            else:
                wns_type = WNSType.RAW
        return wns_type, None
    try:
        root = parse_xml(xml).tag
    except ValueError as exc:
        raise InvalidNotification(str(exc), field="wns.xml") from exc
    if wns_type is None:
        wns_type = next((t for t in WNSType if t.root == root), None)
    if wns_type is None or wns_type.root != root:
        raise InvalidNotification(f"root element <{root}> does not match the type", field="wns.xml")
    return wns_type, xml.encode("utf-8")


def _header_value(name: str, value: Any) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if not _HEADER_VALUE.fullmatch(text):
        raise InvalidNotification("header values are printable ASCII", field=f"wns.headers.{name}")
    lowered = name.lower()
    if lowered in ("x-wns-tag", "x-wns-group") and not 0 < len(text) <= LABEL_MAX:
        raise InvalidNotification(f"at most {LABEL_MAX} characters", field=f"wns.headers.{name}")
    if lowered == "x-wns-ttl" and not text.isdecimal():
        raise InvalidNotification("seconds as an integer", field=f"wns.headers.{name}")
    if lowered == "x-wns-cache-policy" and text not in CACHE_POLICIES:
        raise InvalidNotification("'cache' or 'no-cache'", field=f"wns.headers.{name}")
    if lowered == "x-wns-requestforstatus" and text not in ("true", "false"):
        raise InvalidNotification("'true' or 'false'", field=f"wns.headers.{name}")
    return text


def _headers(
    n: Notification, ov: Mapping[str, Any], wns_type: WNSType, request_for_status: bool,
    now: datetime | None,
) -> tuple[tuple[str, str], ...]:
    headers: dict[str, tuple[str, str]] = {}  # lowercase name → (name, value)

    def put(name: str, value: str) -> None:
        headers[name.lower()] = (name, value)

    put("X-WNS-Type", wns_type.value)
    put("Content-Type", wns_type.content_type)
    ttl = n.ttl_seconds(now)
    if ttl is not None:
        put("X-WNS-TTL", str(ttl))
    collapse = n.collapse_key or n.dedupe_id
    if collapse and wns_type in (WNSType.TOAST, WNSType.TILE):
        put("X-WNS-Tag", short_label(collapse))
    if n.thread_id and wns_type is WNSType.TOAST:
        put("X-WNS-Group", short_label(n.thread_id))
    if request_for_status:
        put("X-WNS-RequestForStatus", "true")
    extra = ov.get("headers") or {}
    if not isinstance(extra, Mapping):
        raise InvalidNotification("must be an object", field="wns.headers")
    for name, value in extra.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InvalidNotification(f"bad header name {name!r}", field="wns.headers")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidNotification(f"{name} is set by pushgate", field="wns.headers")
        if value is None:
            headers.pop(name.lower(), None)
        else:
            put(name, _header_value(name, value))
    return tuple(headers.values())


# The types whose body carries the text, which fit() may trim to the size limit.
_TEXT_BUILDERS: dict[WNSType, Callable[[Notification, Mapping[str, Any], str | None], bytes]] = {
    WNSType.TOAST: toast_body,
    WNSType.TILE: tile_body,
}


def build_payload(
    notification: Notification,
    *,
    max_size: int | None = None,
    request_for_status: bool = False,
    now: datetime | None = None,
) -> WNSPayload:
    """The WNS body and headers for ``notification``.

    :param max_size: opt-in trimming of the body text to fit this many bytes
        (at most 5000); without it an oversized body raises PayloadTooLarge.
    :param request_for_status: add ``X-WNS-RequestForStatus: true`` (docs/protocols/wns.md §1 and §3.1).
    :raises InvalidNotification: the override or content cannot be sent.
    :raises PayloadTooLarge: the body exceeds the limit and cannot be trimmed.
    """
    notification.require_content()
    ov: Mapping[str, Any] = notification.wns or {}
    unknown = set(ov) - OVERRIDE_KEYS
    if unknown:
        raise InvalidNotification(f"unknown keys {sorted(unknown)}", field="wns")
    wns_type, xml = _resolve_type(notification, ov)
    builder = _TEXT_BUILDERS.get(wns_type) if xml is None else None
    if builder is not None:
        make: Callable[[str | None], bytes] = partial(builder, notification, ov)
        text = notification.body
    else:
        if xml is not None:
            fixed = xml
        elif wns_type is WNSType.BADGE:
            fixed = badge_body(notification, ov)
        else:
            fixed = raw_body(notification, ov)
        make, text = (lambda _: fixed), None
    body = fit(make, text, provider="wns", limit=WNS_MAX_PAYLOAD, max_size=max_size)
    headers = _headers(notification, ov, wns_type, request_for_status, now)
    return WNSPayload(wns_type, body, headers)
