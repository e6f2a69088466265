"""Token and subscription validation, before anything is stored.

Every check raises :class:`ValidationError` naming the offending field, so
the API can answer 422 with ``{"field": …}``. Validators return the
normalized value that is stored (APNs tokens lowercased, Web Push keys as
unpadded base64url), so the same device registered twice in different
spellings is one row.

Endpoints (Web Push subscriptions, WNS channel URIs) are URLs the workers
will POST to; accepting any URL would let an API caller make the server
request internal addresses (SSRF). They must be ``https`` on a host of an
allow-list (:class:`ValidationPolicy`, configurable per server).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pushgate.registry._errors import ValidationError
from pushgate.registry.constants import (
    APNS_TOKEN_MAX_HEX,
    APNS_TOKEN_MIN_HEX,
    FCM_TOKEN_MAX_LENGTH,
    FCM_TOKEN_MIN_LENGTH,
    FCM_TOKEN_RE,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_URL_LENGTH,
    WEBPUSH_AUTH_BYTES,
    WEBPUSH_DEFAULT_HOSTS,
    WEBPUSH_P256DH_BYTES,
    WNS_DEFAULT_HOSTS,
    ProviderName,
)
from pushgate.registry.text import check_name

__all__ = [
    "DEFAULT_POLICY",
    "ValidationError",
    "ValidationPolicy",
    "host_allowed",
    "parse_subscription",
    "validate_apns_token",
    "validate_choice",
    "validate_endpoint",
    "validate_fcm_token",
    "validate_locale",
    "validate_tags",
    "validate_timezone",
    "validate_token",
    "validate_webpush_keys",
    "validate_wns_channel",
]

_HEX_RE = re.compile(r"^[0-9a-f]+$")
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Which endpoint hosts are acceptable; entries are "host" (port 443),
    "host:port" (e.g. a local simulator) or "*.suffix" (subdomains, port 443)."""

    webpush_hosts: tuple[str, ...] = WEBPUSH_DEFAULT_HOSTS
    wns_hosts: tuple[str, ...] = WNS_DEFAULT_HOSTS

    @classmethod
    def with_hosts(
        cls, *, webpush: Iterable[str] | None = None, wns: Iterable[str] | None = None
    ) -> ValidationPolicy:
        """A policy from configured allow-lists (None keeps the default list)."""
        return cls(
            webpush_hosts=tuple(webpush) if webpush is not None else WEBPUSH_DEFAULT_HOSTS,
            wns_hosts=tuple(wns) if wns is not None else WNS_DEFAULT_HOSTS,
        )


DEFAULT_POLICY = ValidationPolicy()


def validate_choice(value: str, choices: type[E], field: str) -> E:
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(member.value for member in choices)
        raise ValidationError(field, f"{value!r} is not one of: {allowed}") from None


def validate_apns_token(token: str, field: str = "token") -> str:
    """Hex, even length, 32 to 200 characters (Apple: don't assume 64); lowercased."""
    normalized = token.strip().lower()
    if not _HEX_RE.match(normalized):
        raise ValidationError(field, "an APNs device token is hexadecimal")
    if len(normalized) % 2 or not APNS_TOKEN_MIN_HEX <= len(normalized) <= APNS_TOKEN_MAX_HEX:
        raise ValidationError(
            field,
            f"an APNs device token has an even number of hex digits, "
            f"{APNS_TOKEN_MIN_HEX} to {APNS_TOKEN_MAX_HEX} (got {len(normalized)})",
        )
    return normalized


def validate_fcm_token(token: str, field: str = "token") -> str:
    if not FCM_TOKEN_MIN_LENGTH <= len(token) <= FCM_TOKEN_MAX_LENGTH:
        raise ValidationError(
            field,
            f"an FCM registration token is {FCM_TOKEN_MIN_LENGTH} to {FCM_TOKEN_MAX_LENGTH} characters",
        )
    if not FCM_TOKEN_RE.match(token):
        raise ValidationError(field, "an FCM registration token has only letters, digits and -_:.")
    return token


def host_allowed(host: str, port: int, allowed: Iterable[str]) -> bool:
    """Whether ``host:port`` matches an allow-list entry."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        name, _, port_text = entry.lower().partition(":")
        try:
            entry_port = int(port_text) if port_text else 443
        except ValueError:
            continue
        if entry_port != port:
            continue
        if name.startswith("*."):
            if host.endswith(name[1:]) and len(host) > len(name) - 1:
                return True
        elif host == name:
            return True
    return False


def validate_endpoint(url: str, allowed_hosts: Iterable[str], field: str) -> str:
    """An https URL without credentials whose host:port is on the allow-list."""
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(field, f"longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise ValidationError(field, "not a valid URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValidationError(field, "must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(field, "must not carry credentials")
    if not host_allowed(parts.hostname, port, allowed_hosts):
        raise ValidationError(field, f"host {parts.netloc!r} is not an allowed push service")
    return url


def _b64url_decode(value: str, field: str) -> bytes:
    """base64url, padded or not (browsers omit padding; some libraries add it)."""
    text = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_\-]+={0,2}", text):
        raise ValidationError(field, "not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValidationError(field, "not base64url") from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def validate_webpush_keys(p256dh: str | None, auth: str | None) -> tuple[str, str]:
    """RFC 8291 §3: p256dh an uncompressed P-256 point, auth a 16-byte secret.

    Returns both as unpadded base64url.
    """
    if not p256dh:
        raise ValidationError("p256dh", "a Web Push subscription needs keys.p256dh")
    if not auth:
        raise ValidationError("auth", "a Web Push subscription needs keys.auth")
    point = _b64url_decode(p256dh, "p256dh")
    if len(point) != WEBPUSH_P256DH_BYTES or point[0] != 0x04:
        raise ValidationError("p256dh", "must be an uncompressed P-256 point (65 bytes)")
    # Imported here: cryptography costs an idle server ~8 MB; this runs per Web Push registration.
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ValidationError("p256dh", "is not a point on the P-256 curve") from None
    secret = _b64url_decode(auth, "auth")
    if len(secret) != WEBPUSH_AUTH_BYTES:
        raise ValidationError("auth", f"must decode to {WEBPUSH_AUTH_BYTES} bytes (got {len(secret)})")
    return _b64url(point), _b64url(secret)


def validate_wns_channel(uri: str, allowed_hosts: Iterable[str], field: str = "token") -> str:
    return validate_endpoint(uri, allowed_hosts, field)


def parse_subscription(subscription: Mapping[str, Any] | str) -> tuple[str, str | None, str | None]:
    """``PushSubscription.toJSON()`` (dict or JSON text) → (endpoint, p256dh, auth), unvalidated."""
    if isinstance(subscription, str):
        try:
            subscription = json.loads(subscription)
        except ValueError:
            raise ValidationError("subscription", "not JSON") from None
    if not isinstance(subscription, Mapping):
        raise ValidationError("subscription", "must be an object")
    endpoint = subscription.get("endpoint")
    if not isinstance(endpoint, str):
        raise ValidationError("endpoint", "a subscription needs an endpoint URL")
    keys = subscription.get("keys") or {}
    if not isinstance(keys, Mapping):
        raise ValidationError("keys", "must be an object with p256dh and auth")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    return (
        endpoint,
        p256dh if isinstance(p256dh, str) else None,
        auth if isinstance(auth, str) else None,
    )


def validate_token(
    provider: str,
    token: str,
    *,
    p256dh: str | None = None,
    auth: str | None = None,
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> tuple[ProviderName, str, str | None, str | None]:
    """Validate a registration; returns (provider, token, p256dh, auth) normalized."""
    kind = validate_choice(provider, ProviderName, "provider")
    if not isinstance(token, str) or not token:
        raise ValidationError("token", "required")
    if kind is ProviderName.APNS:
        return kind, validate_apns_token(token), None, None
    if kind is ProviderName.FCM:
        return kind, validate_fcm_token(token), None, None
    if kind is ProviderName.WNS:
        return kind, validate_wns_channel(token, policy.wns_hosts), None, None
    endpoint = validate_endpoint(token, policy.webpush_hosts, "endpoint")
    key, secret = validate_webpush_keys(p256dh, auth)
    return kind, endpoint, key, secret


def validate_locale(locale: str, field: str = "locale") -> str:
    """A BCP 47-like language tag ("en", "pt-BR", "zh_Hant_TW"), stored with hyphens."""
    if not _LOCALE_RE.match(locale):
        raise ValidationError(field, f"{locale!r} is not a language tag like 'en' or 'pt-BR'")
    return locale.replace("_", "-")


def validate_timezone(name: str, field: str = "timezone") -> str:
    """An IANA time zone name ("Europe/Paris"), when the system knows the zones."""
    zones = _zones()
    if zones and name not in zones:
        raise ValidationError(field, f"{name!r} is not an IANA time zone name")
    return name


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_tags(tags: Iterable[str], field: str = "tags") -> list[str]:
    """Distinct, non-blank tags of at most MAX_TAG_LENGTH characters; order kept."""
    if isinstance(tags, str):
        raise ValidationError(field, "must be a list of strings")
    seen: dict[str, None] = {}
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValidationError(field, "tags are non-empty strings")
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationError(field, f"tag longer than {MAX_TAG_LENGTH} characters")
        check_name(tag, field)
        seen[tag] = None
    if len(seen) > MAX_TAGS:
        raise ValidationError(field, f"at most {MAX_TAGS} tags")
    return list(seen)
