"""Token and subscription validation, before anything is stored.

Every check raises :class:`ValidationError` naming the offending field, so
the API can answer 422 with ``{"field": …}``. Validators return the
normalized value that is stored, so the same device registered twice in
different spellings is one row.

What a device token of each provider looks like is the provider's own rule
(``ProviderSpec.check_token``); this module looks the provider up and
turns its :class:`TokenError` into a :class:`ValidationError`. Endpoints
(Web Push subscriptions, WNS channel URIs) must be on an allow-list
(:class:`ValidationPolicy`: the public push services, plus the hosts a
server adds): the SSRF guard.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from pushgate.field_names import did_you_mean
from pushgate.providers import DeviceToken, TokenError, provider_spec, subscription_spec
from pushgate.providers._tokens import DisallowedHost, host_allowed
from pushgate.registry._errors import ValidationError
from pushgate.registry.constants import MAX_TAG_LENGTH, MAX_TAGS, ProviderName
from pushgate.registry.text import check_name

__all__ = [
    "DEFAULT_POLICY",
    "HostNotAllowed",
    "ValidationError",
    "ValidationPolicy",
    "host_allowed",
    "parse_subscription",
    "validate_choice",
    "validate_locale",
    "validate_tags",
    "validate_timezone",
    "validate_token",
]

MAX_LOCALE_LENGTH = 35
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")
E = TypeVar("E", bound=StrEnum)


class HostNotAllowed(ValidationError):
    """An endpoint on a host the policy does not allow for ``provider``.

    Its own class so a caller that knows the app (registry/devices.py) can look
    at the app's own credentials before refusing.
    """

    def __init__(self, field: str, message: str, provider: str) -> None:
        super().__init__(field, message)
        self.provider = provider


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Which endpoint hosts are acceptable, per provider name: the spec's
    ``default_hosts`` (the browsers' and Microsoft's push services) plus the
    hosts added here. Entries are read as the clients read them
    (:mod:`pushgate.allowed_hosts`): "host" (port 443), "host:port" (e.g. a
    local simulator), "*.suffix" (subdomains), IPv6 as "::1" or "[::1]:8443".

    Added hosts never replace the defaults, as for the clients
    (``WebPush``/``WNS`` ``allowed_hosts``): adding a private push service
    must not stop real browsers from subscribing, and a subscription the
    registry accepts must be one the client will call. An app's own
    credentials add to it the same way (:meth:`adding`,
    :mod:`pushgate.registry.endpoint_hosts`).
    """

    hosts: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (provider, its whole list)

    @classmethod
    def with_hosts(cls, **hosts: Iterable[str] | None) -> ValidationPolicy:
        """A policy adding configured hosts, by provider, to its defaults (None adds none)."""
        lists = []
        for name, entries in hosts.items():
            if entries is not None:
                defaults = provider_spec(name).default_hosts or ()
                lists.append((name, tuple(dict.fromkeys((*defaults, *entries)))))
        return cls(tuple(lists))

    def adding(self, provider: str, entries: Iterable[str]) -> ValidationPolicy:
        """This policy with ``entries`` added to ``provider``'s list (an app's own hosts)."""
        current = self.hosts_for(provider)
        merged = tuple(dict.fromkeys((*current, *entries)))
        if merged == current:
            return self
        others = tuple((name, hosts) for name, hosts in self.hosts if name != provider)
        return ValidationPolicy((*others, (provider, merged)))

    def hosts_for(self, provider: str) -> tuple[str, ...]:
        for name, entries in self.hosts:
            if name == provider:
                return entries
        return provider_spec(provider).default_hosts or ()


DEFAULT_POLICY = ValidationPolicy()


def validate_choice(value: str, choices: type[E], field: str) -> E:
    member: E | None = _members(choices).get(value) if isinstance(value, str) else None
    if member is None:
        allowed = [member.value for member in choices]
        guess = did_you_mean(value, allowed) if isinstance(value, str) else ""
        raise ValidationError(field, f"{value!r} is not one of: {', '.join(allowed)}{guess}")
    return member


@functools.cache
def _members(choices: type[E]) -> dict[str, E]:
    """Value → member: a dict lookup, several times cheaper than calling the enum (bulk imports)."""
    return {member.value: member for member in choices}


def parse_subscription(subscription: Mapping[str, Any] | str) -> tuple[str, str | None, str | None]:
    """``PushSubscription.toJSON()`` (dict or JSON text) → (endpoint, p256dh, auth), unvalidated.

    Parsed by the provider whose devices are browser subscriptions (:func:`subscription_spec`).
    """
    parse = subscription_spec().parse_subscription
    assert parse is not None  # subscription_spec() only returns a provider that parses them
    try:
        device = parse(subscription)
    except TokenError as exc:
        raise ValidationError(exc.field, exc.message) from None
    return device.token, device.p256dh, device.auth


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
    try:
        device = provider_spec(kind).check_token(DeviceToken(token, p256dh, auth), policy.hosts_for(kind))
    except DisallowedHost as exc:
        # Name what allows it (README, "Configuration"): whoever reads the 422 is often the
        # operator pointing a test or a private push service at the server.
        message = (f"{exc.message} (allow it with the providers.{kind}.allowed_hosts setting "
                   f"or the allowed_hosts of the app's {kind} credentials)")
        raise HostNotAllowed(exc.field, message, kind) from None
    except TokenError as exc:
        raise ValidationError(exc.field, exc.message) from None
    return kind, device.token, device.p256dh, device.auth


def validate_locale(locale: str, field: str = "locale") -> str:
    """A BCP 47-like language tag ("en", "pt-BR", "zh_Hant_TW"), stored with hyphens.

    At most MAX_LOCALE_LENGTH characters: RFC 5646 §4.4.1 asks implementations to keep
    tags of up to 35 characters, which is what the locale columns hold.
    """
    if len(locale) > MAX_LOCALE_LENGTH:
        raise ValidationError(field, f"is longer than {MAX_LOCALE_LENGTH} characters (RFC 5646 §4.4.1)")
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
