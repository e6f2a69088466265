"""The pure parts of deciding an event batch: the compiled catalog, quiet hours, predefined events.

No database here: :mod:`pushgate.workers.events` loads what these need and
stores what they decide.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pushgate.registry.catalog.messages import MessageView
from pushgate.registry.constants import Platform, ProviderName
from pushgate.service.catalog import deep_link
from pushgate.service.templates import MissingParameter, Template, parse, pick_language

# Skip reasons an event batch counts (docs/events.md §5); deliveries that fail carry their own.
UNKNOWN_USER = "unknown_user"
NO_MESSAGE = "no_message"
OPTED_OUT = "opted_out"
EXPIRED = "expired"
QUIET_DROPPED = "quiet_hours"
NO_DEVICES = "no_devices"
FREQUENCY_CAP = "frequency_cap"
COOLDOWN = "cooldown"
REASON_NO_LOCALIZATION = "NoLocalization"
_MISSING_PREFIX = "MissingParameter:"


def render_failure_detail(reason: str) -> str:
    """A render failure's reason in words, as a batch's outcome shows it (the preview route's
    terms: the parameter is named as the request's ``params`` field)."""
    if reason.startswith(_MISSING_PREFIX):
        return f"the template uses params.{reason[len(_MISSING_PREFIX):]}; the event did not carry it"
    if reason == REASON_NO_LOCALIZATION:
        return ("the message has no localization for the user's language, the app's default language "
                "or English")
    return reason

# A login event's platform: a provider name, or a platform name and the provider it uses.
PLATFORM_PROVIDERS: dict[str, str] = {
    Platform.IOS: ProviderName.APNS, Platform.IPADOS: ProviderName.APNS,
    Platform.ANDROID: ProviderName.FCM, Platform.ANDROID_TABLET: ProviderName.FCM,
    Platform.WEB: ProviderName.WEBPUSH, Platform.WINDOWS: ProviderName.WNS,
}


@dataclass(frozen=True, slots=True)
class CompiledMessage:
    """A catalog message ready to render: parsed templates by language, the shared notification."""

    id: int
    name: str
    events: tuple[int, ...]
    cooldown: int
    expiry: int | None
    quiet_hours: str
    templates: dict[str, tuple[Template, Template]]
    notification: dict[str, Any]  # the send's notification: what every device shares
    # (locale, default language) → the language picked; a batch asks for few distinct ones
    languages: dict[tuple[str | None, str | None], str | None] = field(default_factory=dict, compare=False)

    def render(self, locale: str | None, default_language: str | None,
               params: Mapping[str, str]) -> tuple[str, str] | str:
        """(title, body) in the best language, or the failure reason of the delivery."""
        key = (locale, default_language)
        if key in self.languages:
            language = self.languages[key]
        else:
            language = self.languages[key] = pick_language(self.templates, locale, default_language)
        if language is None:
            return REASON_NO_LOCALIZATION
        title, body = self.templates[language]
        try:
            if title.format is not None and body.format is not None and type(params) is dict:
                # Template.render's own fast path, without its two calls (twice per device).
                return title.format.format_map(params), body.format.format_map(params)
            return title.render(params), body.render(params)
        except KeyError as missing:  # MissingParameter is one; format_map raises the plain one
            return missing.reason if isinstance(missing, MissingParameter) else MissingParameter(
                str(missing.args[0])).reason


def compile_message(view: MessageView, settings: Mapping[str, Any]) -> CompiledMessage:
    f = view.fields
    note: dict[str, Any] = {**dict(f.extras), "title": view.name}  # title: replaced per device
    link = deep_link(settings.get("deep_link_base"), f.screen)
    if link is not None:
        note["url"] = link
    if f.priority is not None:
        note["priority"] = f.priority
    templates = {language: (parse(text.title), parse(text.body))
                 for language, text in view.localizations.items()}
    return CompiledMessage(view.id, view.name, f.events, f.cooldown, f.expiry, f.quiet_hours, templates, note)


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def quiet_until(timezone: str | None, now: datetime, start: str | None, end: str | None) -> datetime | None:
    """When the quiet window around ``now`` ends for a user in ``timezone``; None outside one.

    The window is ``[start, end)`` in the user's local time and may span
    midnight (22:00 to 07:00). A user without a known time zone has no quiet
    hours: pushgate cannot tell when their night is.
    """
    if not start or not end or not timezone:
        return None
    zone = _zone(timezone)
    if zone is None:
        return None
    local = now.astimezone(zone)
    begin, finish = _clock(start), _clock(end)
    at = local.time()
    if begin == finish:
        return None
    inside = begin <= at < finish if begin < finish else (at >= begin or at < finish)
    if not inside:
        return None
    day = local.date() if at < finish else local.date() + timedelta(days=1)
    ends = datetime.combine(day, finish, tzinfo=zone)
    return ends.astimezone(UTC)


def window_start(now: float, window: int) -> int:
    """The start of the fixed frequency-cap window holding ``now`` (epoch seconds)."""
    return int(now // window) * window


@dataclass(frozen=True, slots=True)
class LoginFields:
    """What a login event registers: the device and the user's language and time zone."""

    provider: str
    token: str
    platform: str | None
    locale: str | None
    app_version: str | None
    device_id: str | None
    timezone: str | None


def login_fields(params: Mapping[str, str]) -> LoginFields:
    """A login event's parameters as a device registration: provider, platform, token, …

    Accepted spellings: ``language``, ``platform``, ``token`` (or
    ``device_token``), ``application_version``, optionally ``provider``,
    ``device_id`` (the installation id: a new token for it replaces the old
    one) and ``timezone``. Raises ValueError naming what is wrong.
    """
    token = params.get("token") or params.get("device_token")
    if not token:
        raise ValueError("params.token: required for a login event")
    platform = params.get("platform")
    provider = params.get("provider")
    if platform in {p.value for p in ProviderName}:
        provider, platform = provider or platform, None
    if provider is None:
        if platform is None:
            raise ValueError("params.platform: required for a login event")
        if platform not in PLATFORM_PROVIDERS:
            raise ValueError(f"params.platform: {platform!r} is not a provider or platform name")
        provider = PLATFORM_PROVIDERS[platform]
    return LoginFields(
        provider=str(provider), token=token, platform=platform, locale=params.get("language") or None,
        app_version=params.get("application_version") or None, device_id=params.get("device_id") or None,
        timezone=params.get("timezone") or None,
    )


__all__ = [
    "COOLDOWN",
    "EXPIRED",
    "FREQUENCY_CAP",
    "NO_DEVICES",
    "NO_MESSAGE",
    "OPTED_OUT",
    "QUIET_DROPPED",
    "REASON_NO_LOCALIZATION",
    "UNKNOWN_USER",
    "CompiledMessage",
    "LoginFields",
    "compile_message",
    "login_fields",
    "quiet_until",
    "window_start",
]
