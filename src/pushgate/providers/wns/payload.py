"""Notification → WNS request body and headers (docs/protocols/wns.md §1, §3.1 and §4).

Which WNS type is sent:

- the ``wns`` override's ``type`` wins, else the root element of its ``xml``;
- ``silent=True`` → ``wns/raw``: ``data`` as compact JSON bytes
  (``application/octet-stream``);
- visible content (title, body, subtitle or a loc key) → ``wns/toast``;
- only a ``badge`` and no ``data`` → ``wns/badge`` (``<badge value="N"/>``);
- anything else (data-only) → ``wns/raw``.

The modern toast is built with :mod:`xml.etree` (never by string
concatenation), so user text is always escaped::

    <toast launch="…" activationType="protocol">
      <visual><binding template="ToastGeneric">
        <text>title</text><text>subtitle</text><text>body</text>
        <image placement="appLogoOverride" src="icon"/><image placement="hero" src="image"/>
      </binding></visual>
      <actions><action content="…" arguments="…" activationType="protocol|foreground"/></actions>
      <audio src="ms-winsoundevent:Notification.Default"/>
    </toast>

``launch`` is ``wns.launch``, else ``url`` (activated as a protocol, so the
URL opens), else ``data`` as JSON (handed to the app in the foreground).
Loc keys become ``ms-resource:<key>`` references (Windows resolves them from
the app's resources; loc args have no WNS equivalent and are ignored).
Sound: ``"default"`` → ``ms-winsoundevent:Notification.Default``, a name with
a ``:`` is used as-is, another name ``N`` → ``ms-winsoundevent:Notification.N``;
a silent toast (type forced by the override) gets ``<audio silent="true"/>``.

Text that XML 1.0 cannot carry (control characters other than tab and
newline, lone surrogates, U+FFFE/U+FFFF) is dropped, and CR / CRLF become LF
(an XML parser does that to element text anyway, XML 1.0 §2.11).

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
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any
from xml.parsers import expat

from pushgate.errors import InvalidNotification
from pushgate.notification import CriticalSound, Notification
from pushgate.providers._payload_fit import fit

WNS_MAX_PAYLOAD = 5000  # bytes, docs/protocols/wns.md §5 (413)
LABEL_MAX = 16  # X-WNS-Tag / X-WNS-Group characters, docs/protocols/wns.md §1 and §3.1
MAX_ACTIONS = 5  # toast buttons Windows shows
DEFAULT_TILE_TEMPLATES = ("TileMedium", "TileWide", "TileLarge")
DEFAULT_SOUND = "ms-winsoundevent:Notification.Default"
BADGE_GLYPHS = frozenset(
    {"none", "activity", "alarm", "alert", "attention", "available", "away", "busy",
     "error", "newMessage", "paused", "playing", "unavailable"}
)
SCENARIOS = frozenset({"default", "reminder", "alarm", "incomingCall", "urgent"})
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


# -- text and XML helpers -------------------------------------------------------------

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2 token
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")


def clean_text(text: str) -> str:
    """``text`` as an XML 1.0 document will carry it (see the module docstring)."""
    return _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def short_label(value: str) -> str:
    """``value`` if it is a valid tag/group, else a stable 16-character digest."""
    if len(value) <= LABEL_MAX and _PRINTABLE_ASCII.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()[:10]
    return base64.b32encode(digest).decode("ascii").lower()


def parse_xml(data: str | bytes) -> ET.Element:
    """Parse XML, refusing DTDs (so no entity expansion); ValueError if not well-formed."""

    def refuse(*_: object) -> None:
        raise ValueError("DTDs and entity declarations are not allowed")

    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = refuse
    checker.EntityDeclHandler = refuse
    try:
        checker.Parse(data, True)
        return ET.fromstring(data)
    except (expat.ExpatError, ET.ParseError) as exc:
        raise ValueError(f"XML is not well-formed: {exc}") from exc


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: clean_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = clean_text(text)
    return element


def _serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="unicode").encode("utf-8")


# -- the builders ---------------------------------------------------------------------


def _texts(n: Notification, body: str | None) -> list[str]:
    title = n.title or (f"ms-resource:{n.title_loc_key}" if n.title_loc_key else None)
    if body is None and n.body_loc_key:
        body = f"ms-resource:{n.body_loc_key}"
    return [t for t in (title, n.subtitle, body) if t]


def _sound(n: Notification) -> dict[str, str] | None:
    if n.silent:
        return {"silent": "true"}
    sound = n.sound.name if isinstance(n.sound, CriticalSound) else n.sound
    if not sound:
        return None
    if sound == "default":
        return {"src": DEFAULT_SOUND}
    return {"src": sound if ":" in sound else f"ms-winsoundevent:Notification.{sound}"}


def _toast(n: Notification, ov: Mapping[str, Any], body: str | None) -> bytes:
    toast = ET.Element("toast")
    launch = _opt_str(ov, "launch")
    if launch is not None:
        toast.set("launch", clean_text(launch))
    elif n.url:
        toast.set("launch", clean_text(n.url))
        toast.set("activationType", "protocol")
    elif n.data:
        toast.set("launch", clean_text(_json(n.data).decode()))
    scenario = _opt_str(ov, "scenario")
    if scenario is not None:
        if scenario not in SCENARIOS:
            raise InvalidNotification(f"unknown toast scenario {scenario!r}", field="wns.scenario")
        toast.set("scenario", scenario)
    duration = _opt_str(ov, "duration")
    if duration is not None:
        if duration not in ("short", "long"):
            raise InvalidNotification("duration is 'short' or 'long'", field="wns.duration")
        toast.set("duration", duration)
    binding = _sub(_sub(toast, "visual"), "binding", template="ToastGeneric")
    for text in _texts(n, body):
        _sub(binding, "text", text)
    if n.icon:
        _sub(binding, "image", placement="appLogoOverride", src=n.icon)
    if n.image:
        _sub(binding, "image", placement="hero", src=n.image)
    if n.actions:
        if len(n.actions) > MAX_ACTIONS:
            raise InvalidNotification(f"a toast has at most {MAX_ACTIONS} actions", field="actions")
        actions = _sub(toast, "actions")
        for action in n.actions:
            attrs = {"content": action.title, "arguments": action.url or action.id,
                     "activationType": "protocol" if action.url else "foreground"}
            if action.icon:
                attrs["imageUri"] = action.icon
            _sub(actions, "action", **attrs)
    audio = _sound(n)
    if audio is not None:
        _sub(toast, "audio", **audio)
    return _serialize(toast)


def _tile(n: Notification, ov: Mapping[str, Any], body: str | None) -> bytes:
    templates = ov.get("template", DEFAULT_TILE_TEMPLATES)
    if isinstance(templates, str):
        templates = [templates]
    if not templates or not all(isinstance(t, str) and t for t in templates):
        raise InvalidNotification("template is a name or a list of names", field="wns.template")
    tile = ET.Element("tile")
    visual = _sub(tile, "visual")
    texts = _texts(n, body)
    for template in templates:
        binding = _sub(visual, "binding", template=template)
        if n.image:
            _sub(binding, "image", placement="background", src=n.image)
        for i, text in enumerate(texts):
            attrs = {"hint-style": "base"} if i == 0 else {"hint-style": "captionSubtle", "hint-wrap": "true"}
            _sub(binding, "text", text, **attrs)
    return _serialize(tile)


def _badge(n: Notification, ov: Mapping[str, Any]) -> bytes:
    value = ov.get("value", n.badge)
    field = "wns.value" if "value" in ov else "badge"
    if isinstance(value, bool) or value is None:
        raise InvalidNotification("a badge needs notification.badge or wns.value", field="wns.value")
    if isinstance(value, int):
        # Any integer is valid; Windows shows 1-99 as given and more as "99+", 0 clears it
        # (learn.microsoft.com/uwp/schemas/tiles/badgeschema/element-badge).
        if value < 0:
            raise InvalidNotification("a WNS badge number is 0 or more", field=field)
        value = str(value)
    if not isinstance(value, str) or not (value.isdecimal() or value in BADGE_GLYPHS):
        raise InvalidNotification(f"not a badge number or glyph: {value!r}", field="wns.value")
    return _serialize(ET.Element("badge", value=value))


def _raw(n: Notification, ov: Mapping[str, Any]) -> bytes:
    raw = _opt_str(ov, "raw")
    if raw is not None:
        return raw.encode("utf-8")
    return _json(n.data or {})


def _json(data: Any) -> bytes:
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidNotification(f"data is not JSON-serializable: {exc}", field="data") from exc


def _opt_str(ov: Mapping[str, Any], key: str) -> str | None:
    value = ov.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidNotification("must be a string", field=f"wns.{key}")
    return value


_TEXT_BUILDERS: dict[WNSType, Callable[[Notification, Mapping[str, Any], str | None], bytes]] = {
    WNSType.TOAST: _toast,
    WNSType.TILE: _tile,
}


# -- type, headers, entry point -------------------------------------------------------


def _resolve_type(n: Notification, ov: Mapping[str, Any]) -> tuple[WNSType, bytes | None]:
    """The WNS type, and the override XML (checked) if one was given."""
    wns_type: WNSType | None = None
    name = _opt_str(ov, "type")
    if name is not None:
        try:
            wns_type = WNSType(name if name.startswith("wns/") else f"wns/{name}")
        except ValueError:
            raise InvalidNotification(f"unknown WNS type {name!r}", field="wns.type") from None
    xml = _opt_str(ov, "xml")
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
            fixed = _badge(notification, ov)
        else:
            fixed = _raw(notification, ov)
        make, text = (lambda _: fixed), None
    body = fit(make, text, provider="wns", limit=WNS_MAX_PAYLOAD, max_size=max_size)
    headers = _headers(notification, ov, wns_type, request_for_status, now)
    return WNSPayload(wns_type, body, headers)
