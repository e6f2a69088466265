"""Previewing a catalog message: rendered for a user or a locale, built for each provider.

``POST /v1/messages/{name}/preview`` answers what a user would get: the
language chosen (docs/events.md §2), the rendered title and body, and for
each provider the wire payload the provider client would send — built by
the same payload builders the clients use, so its size is the one checked
against the provider's limit (APNs 4096 bytes, docs/protocols/apns.md; FCM
4096, docs/protocols/fcm.md §4.2; Web Push 3993 bytes of plaintext,
docs/protocols/webpush.md §4; WNS 5000, docs/protocols/wns.md §5).
Nothing is stored or sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pushgate.errors import InvalidNotification, PayloadTooLarge
from pushgate.notification import Notification
from pushgate.providers import PROVIDER_NAMES, provider_spec
from pushgate.registry import NotFound, ValidationError, get_user, list_credentials
from pushgate.registry.catalog.messages import get_event_settings, get_message
from pushgate.service.components import Services
from pushgate.service.templates import MissingParameter, pick_language
from pushgate.workers.event_rules import compile_message

_PLACEHOLDER_TOPIC = "com.example.app"  # APNs needs a topic for its headers; any measures the body


def _apns(note: Notification, config: Mapping[str, Any], now: datetime) -> tuple[bytes, int]:
    from pushgate.providers.apns.payload import build_payload, payload_limit

    parts = build_payload(note, bundle_id=str(config.get("topic") or _PLACEHOLDER_TOPIC), now=now)
    return parts.body, payload_limit(parts.push_type)


def _fcm(note: Notification, config: Mapping[str, Any], now: datetime) -> tuple[bytes, int]:
    from pushgate.providers.fcm.payload import MESSAGE_LIMIT, build_payload

    built = build_payload(note, now=now)
    return built.body_for("TOKEN"), MESSAGE_LIMIT


def _webpush(note: Notification, config: Mapping[str, Any], now: datetime) -> tuple[bytes, int]:
    from pushgate.providers.webpush.payload import MAX_PLAINTEXT, build_payload

    return build_payload(note, now=now).plaintext, MAX_PLAINTEXT


def _wns(note: Notification, config: Mapping[str, Any], now: datetime) -> tuple[bytes, int]:
    from pushgate.providers.wns.payload import WNS_MAX_PAYLOAD, build_payload

    return build_payload(note, now=now).body, WNS_MAX_PAYLOAD


# The payload builder of each provider and the limit its size is counted against. A provider
# missing here is still checked through its spec's check_payload, without a size shown.
_BUILDERS: dict[str, Callable[[Notification, Mapping[str, Any], datetime], tuple[bytes, int]]] = {
    "apns": _apns, "fcm": _fcm, "webpush": _webpush, "wns": _wns,
}


@dataclass(frozen=True, slots=True)
class ProviderPreview:
    provider: str
    fits: bool
    size: int | None
    limit: int | None
    payload: Any  # JSON, or text (WNS XML); None when it could not be built
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    language: str
    title: str
    body: str
    url: str | None
    providers: list[ProviderPreview]


def preview_message(
    services: Services,
    app_id: int,
    name: str,
    *,
    user_id: str | None = None,
    locale: str | None = None,
    params: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Preview:
    """Render message ``name`` for a user (their language) or a locale, and build it per provider.

    :raises NotFound: no such message or user.
    :raises ValidationError: a parameter is missing, or no localization fits.
    """
    now = now or datetime.now(UTC)
    with services.db.session(write=False) as session:
        view = get_message(session, app_id, name)
        if view is None:
            raise NotFound("message", name)
        settings = get_event_settings(session, app_id)
        if user_id is not None:
            user = get_user(session, app_id, user_id)
            if user is None:
                raise NotFound("user", user_id)
            locale = user.locale or locale
        credentials = {row.provider: dict(row.config) for row in list_credentials(session, app_id)}
    message = compile_message(view, settings)
    language = pick_language(message.templates, locale, settings["default_language"])
    if language is None:
        raise ValidationError("locale", "the message has no localization for this language, the app's "
                              "default language or English")
    title_template, body_template = message.templates[language]
    try:
        title, body = title_template.render(params or {}), body_template.render(params or {})
    except MissingParameter as missing:
        raise ValidationError(f"params.{missing.name}", "missing: the template uses it") from None
    note = Notification.model_validate({**message.notification, "title": title or None, "body": body or None})
    providers = sorted(credentials) or list(PROVIDER_NAMES)
    return Preview(language, title, body, note.url,
                   [_build(provider, note, credentials.get(provider, {}), now) for provider in providers])


def _build(provider: str, note: Notification, config: Mapping[str, Any], now: datetime) -> ProviderPreview:
    builder = _BUILDERS.get(provider)
    try:
        if builder is None:
            provider_spec(provider).check_payload(note, config, now)
            return ProviderPreview(provider, True, None, None, None)
        body, limit = builder(note, config, now)
    except PayloadTooLarge as exc:
        return ProviderPreview(provider, False, exc.size, exc.limit, None, str(exc))
    except InvalidNotification as exc:
        return ProviderPreview(provider, False, None, None, None, str(exc))
    try:
        payload: Any = json.loads(body)
    except ValueError:
        payload = body.decode("utf-8", "replace")
    return ProviderPreview(provider, len(body) <= limit, len(body), limit, payload)


__all__ = ["Preview", "ProviderPreview", "preview_message"]
