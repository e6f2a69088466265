"""The WNS request bodies: toast, tile and badge XML and the raw body (docs/protocols/wns.md §4).

:mod:`pushgate.providers.wns.payload` picks the type and builds the headers;
this module turns a notification (and its ``wns`` override) into the body
of the chosen type. Kept apart because the XML schemas, and what text may go
into them, are a subject of their own.

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

A tile gets one binding per template (``wns.template``, default medium,
wide and large); a badge is ``<badge value="N"/>`` with a number or a glyph
(``wns.value``, else ``badge``); a raw body is ``wns.raw`` as UTF-8, else
``data`` as compact JSON.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from xml.parsers import expat

from pushgate.errors import InvalidNotification
from pushgate.notification import CriticalSound, Notification

MAX_ACTIONS = 5  # toast buttons Windows shows
DEFAULT_TILE_TEMPLATES = ("TileMedium", "TileWide", "TileLarge")
DEFAULT_SOUND = "ms-winsoundevent:Notification.Default"
BADGE_GLYPHS = frozenset(
    {"none", "activity", "alarm", "alert", "attention", "available", "away", "busy",
     "error", "newMessage", "paused", "playing", "unavailable"}
)
SCENARIOS = frozenset({"default", "reminder", "alarm", "incomingCall", "urgent"})


# -- text and XML helpers -------------------------------------------------------------

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """``text`` as an XML 1.0 document will carry it (see the module docstring)."""
    return _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


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


def override_str(ov: Mapping[str, Any], key: str) -> str | None:
    """The ``wns`` override's ``key`` if it is a string (None if absent)."""
    value = ov.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidNotification("must be a string", field=f"wns.{key}")
    return value


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: clean_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = clean_text(text)
    return element


def _serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="unicode").encode("utf-8")


def _json(data: Any) -> bytes:
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidNotification(f"data is not JSON-serializable: {exc}", field="data") from exc


# -- the bodies -----------------------------------------------------------------------


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


def toast_body(n: Notification, ov: Mapping[str, Any], body: str | None) -> bytes:
    """The ``<toast>`` document, with ``body`` as its body text (trimmed by the caller if asked)."""
    toast = ET.Element("toast")
    launch = override_str(ov, "launch")
    if launch is not None:
        toast.set("launch", clean_text(launch))
    elif n.url:
        toast.set("launch", clean_text(n.url))
        toast.set("activationType", "protocol")
    elif n.data:
        toast.set("launch", clean_text(_json(n.data).decode()))
    scenario = override_str(ov, "scenario")
    if scenario is not None:
        if scenario not in SCENARIOS:
            raise InvalidNotification(f"unknown toast scenario {scenario!r}", field="wns.scenario")
        toast.set("scenario", scenario)
    duration = override_str(ov, "duration")
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


def tile_body(n: Notification, ov: Mapping[str, Any], body: str | None) -> bytes:
    """The ``<tile>`` document: one binding per template, each with the texts."""
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


def badge_body(n: Notification, ov: Mapping[str, Any]) -> bytes:
    """``<badge value="…"/>`` from ``wns.value``, else the notification's badge."""
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


def raw_body(n: Notification, ov: Mapping[str, Any]) -> bytes:
    """``wns.raw`` as UTF-8, else ``data`` as compact JSON."""
    raw = override_str(ov, "raw")
    if raw is not None:
        return raw.encode("utf-8")
    return _json(n.data or {})
