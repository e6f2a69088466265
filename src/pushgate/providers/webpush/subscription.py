"""Web Push subscriptions and the push-service allow-list.

A subscription is what the browser's ``PushSubscription.toJSON()`` returns
(docs/protocols/webpush.md §1.2): the endpoint URL plus the user agent's ``p256dh``
public key and ``auth`` secret. Its keys are validated and parsed once here,
so every later encryption reuses the parsed point.

The endpoint is a URL the *browser* chose, so sending to it blindly would
let anyone who can store a subscription make the server POST to any host
(SSRF). An :class:`~pushgate.allowed_hosts.AllowList` names the push services
the browsers use; a subscription elsewhere is refused before any connection
is made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pushgate.allowed_hosts import AllowList
from pushgate.crypto import ece
from pushgate.crypto.vapid import b64url_decode, b64url_encode
from pushgate.errors import InvalidToken
from pushgate.providers.webpush.spec import DEFAULT_HOSTS

# AllowList is read the same way by the registry and the WNS client; kept importable here.
__all__ = ["DEFAULT_ALLOWED_HOSTS", "AllowList", "Subscription"]

# The browsers' push services: the list is part of the provider spec.
DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = DEFAULT_HOSTS


@dataclass(frozen=True, slots=True)
class Subscription:
    """One browser subscription; build it with :meth:`from_json` from what the page posted.

    :raises InvalidToken: the endpoint is not an ``https`` URL, ``p256dh`` is
        not a P-256 point, or ``auth`` is not 16 bytes.
    """

    endpoint: str
    p256dh: str
    auth: str = field(repr=False)
    expiration_time: int | None = None  # epoch milliseconds, as the browser reports it
    recipient: ece.Recipient = field(init=False, repr=False, compare=False)
    origin: str = field(init=False, repr=False, compare=False)  # scheme://host[:port], the VAPID aud
    host: str = field(init=False, repr=False, compare=False)
    port: int = field(init=False, repr=False, compare=False)
    path: str = field(init=False, repr=False, compare=False)  # path and query, for :path

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.endpoint)
            port = parts.port or 443
        except ValueError as exc:
            raise InvalidToken(f"the endpoint is not a URL: {exc}", token=self.endpoint) from exc
        if parts.scheme != "https" or not parts.hostname:
            raise InvalidToken("the endpoint must be an https URL (RFC 8030 §8)", token=self.endpoint)
        try:
            recipient = ece.Recipient(b64url_decode(self.p256dh), b64url_decode(self.auth))
        except (ValueError, ece.ECEError) as exc:
            raise InvalidToken(f"the subscription keys are invalid: {exc}", token=self.endpoint) from exc
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        object.__setattr__(self, "recipient", recipient)
        object.__setattr__(self, "origin", f"https://{parts.netloc.rsplit('@', 1)[-1]}")
        object.__setattr__(self, "host", parts.hostname)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "path", path)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> Subscription:
        """From ``PushSubscription.toJSON()`` (a dict or its JSON text); a flat
        ``{"endpoint", "p256dh", "auth"}`` as some databases store it works too."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise InvalidToken("the subscription is not valid JSON") from exc
        if not isinstance(data, Mapping):
            raise InvalidToken("a subscription is a JSON object")
        keys = data.get("keys", data)
        endpoint, p256dh, auth = data.get("endpoint"), keys.get("p256dh"), keys.get("auth")
        if not (isinstance(endpoint, str) and isinstance(p256dh, str) and isinstance(auth, str)):
            raise InvalidToken("a subscription needs endpoint, keys.p256dh and keys.auth strings")
        expiration = data.get("expirationTime", data.get("expiration_time"))
        if isinstance(expiration, bool) or not isinstance(expiration, int | float | None):
            raise InvalidToken("expirationTime is null or epoch milliseconds", token=endpoint)
        return cls(endpoint, p256dh, auth, None if expiration is None else int(expiration))

    @classmethod
    def coerce(cls, value: Subscription | Mapping[str, Any] | str | bytes) -> Subscription:
        return value if isinstance(value, Subscription) else cls.from_json(value)

    def to_json(self) -> dict[str, Any]:
        """The ``PushSubscription.toJSON()`` form (keys re-encoded canonically)."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": self.expiration_time,
            "keys": {
                "p256dh": b64url_encode(self.recipient.public_bytes),
                "auth": b64url_encode(self.recipient.auth_secret),
            },
        }
