"""What the rest of pushgate knows about a provider: its :class:`ProviderSpec`.

The server, the workers and the CLI never switch on a provider's name: they
look its spec up (:func:`pushgate.providers.provider_spec`) and ask it —
which credential fields it takes, whether stored credentials have the right
shape, whether they really work (keys parse), how to build a client from
them, whether a notification fits its payload limit, which hosts it may
call by default, what a device token of it looks like.

Specs are light to import: the client stack (HTTP/2, cryptography, JWT) is
imported only by the functions that need it, because an idle server looks
specs up without sending anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pushgate.errors import ConfigurationError, InvalidToken
from pushgate.notification import Notification

if TYPE_CHECKING:
    from pushgate.providers._base import Provider

__all__ = [
    "ClientFactory",
    "CredentialError",
    "CredentialField",
    "DeviceToken",
    "Endpoint",
    "ProviderSpec",
    "TokenError",
    "UnknownProvider",
    "require_fields",
]


class CredentialError(ConfigurationError):
    """Credentials a provider refuses; ``field`` names the field (dotted inside objects).

    Providers do not know the registry: the registry and the API turn this
    into their own validation error, with the field relative to their input.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TokenError(InvalidToken):
    """A device token (or subscription) a provider refuses; ``field`` names the part.

    Parts: ``token``, and for a browser subscription ``endpoint``, ``p256dh``,
    ``auth``, ``keys`` or ``subscription``. Like :class:`CredentialError`, the
    registry turns it into its own validation error.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """Where a device is reached: its token (Web Push: the endpoint; WNS: the
    channel URI) and, for a browser subscription, its ``p256dh`` and ``auth`` keys."""

    token: str
    p256dh: str | None = None
    auth: str | None = None


class UnknownProvider(ConfigurationError):
    """No provider of that name is registered."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown provider {name!r} (known: {', '.join(known)})")
        self.name = name


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One field of a provider's stored credentials (a dotted name: a field inside an object).

    ``text``: when given it must be a string. ``secret``: never shown, and
    encrypted at rest (the registry's name rule must agree; a test checks it).
    """

    name: str
    text: bool = True
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a provider is reached, when not at its public service (simulators, proxies)."""

    base_url: str | None = None
    token_url: str | None = None
    ca_file: str | None = None
    allowed_hosts: tuple[str, ...] | None = None
    request_timeout: float = 30.0  # seconds for a provider's answer before the request is retried


class ClientFactory(Protocol):
    def __call__(
        self, config: Mapping[str, Any], endpoint: Endpoint, *, concurrency: int, max_retries: int
    ) -> Provider[Any, Any]: ...


def _token_as_stored(token: str, p256dh: str | None, auth: str | None) -> str:
    """Most clients take the stored token as it is (Web Push wants the subscription's keys too)."""
    return token


def _spelled_as_given(token: str) -> str:
    return token


def _document_as_given(document: dict[str, Any]) -> dict[str, Any]:
    return document


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """Everything pushgate needs to know about one provider, outside its client.

    - ``fields``: the credential schema; ``required``: groups of field names
      of which exactly one must be given (most groups have one name).
    - ``check_stored(config)``: the shape every stored config must have
      (required fields, enumerations); cheap, parses no key. Returns the
      config to store (an FCM service account given as text comes back parsed).
    - ``validate(config)``: the full check when credentials are put: keys
      parse, subjects and URLs are well-formed. Returns the config to store.
    - ``build_client(config, endpoint, concurrency=, max_retries=)``: a
      client from stored credentials (decrypted, without endpoint fields).
    - ``check_payload(notification, config, now)``: build the wire payload
      as the client would; raises ``PayloadTooLarge`` / ``InvalidNotification``.
    - ``default_hosts``: the hosts the client calls when the app names none
      (Web Push and WNS take endpoints from devices); None: a fixed service.
    - ``client_token(token, p256dh, auth)``: a stored device's token as the
      client takes it.
    - ``check_token(device, allowed_hosts)``: a device token as registered →
      the :class:`DeviceToken` to store, normalized (an APNs token in lower
      case, Web Push keys as unpadded base64url), so one device registered
      in two spellings is one row. ``allowed_hosts`` is the allow-list an
      endpoint must be on (``default_hosts`` unless the server names its
      own); providers with fixed services ignore it. Raises :class:`TokenError`.
    - ``normalize_token(token)``: the spelling ``check_token`` stores, without
      validating: a lookup by token finds the device however it is written.
    - ``parse_subscription(subscription)``: for a provider whose devices are
      browser subscriptions, ``PushSubscription.toJSON()`` (dict or JSON
      text) → an unvalidated :class:`DeviceToken`; None for the others.
    - ``from_vendor_document(document)``: credentials as the vendor hands
      them out (Google's service-account key file) → the credential fields;
      anything else is returned as given.
    - ``key_file_fields(text)``: the fields a key file fills (a ``.p8`` key
      or a certificate for APNs, the service-account file for FCM, the VAPID
      PEM for Web Push); None for a provider that takes no key file.
    - ``credential_audience(token_key)``: for a provider whose credentials
      each of many services checks on its own (Web Push: every push service
      verifies VAPID), the service that answered for a result's token (the
      endpoint's origin, the VAPID ``aud``). Once it accepted the current
      credentials, a refusal from it is about that one subscription
      (docs/protocols/webpush.md §6). None: one service judges the app's
      credentials as a whole.

    The credential checks and ``key_file_fields`` raise :class:`CredentialError`.
    """

    name: str
    fields: tuple[CredentialField, ...]
    required: tuple[tuple[str, ...], ...]
    check_stored: Callable[[dict[str, Any]], dict[str, Any]]
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    build_client: ClientFactory
    check_payload: Callable[[Notification, Mapping[str, Any], datetime | None], None]
    check_token: Callable[[DeviceToken, tuple[str, ...]], DeviceToken]
    default_hosts: tuple[str, ...] | None = None
    client_token: Callable[[str, str | None, str | None], Any] = _token_as_stored
    normalize_token: Callable[[str], str] = _spelled_as_given
    parse_subscription: Callable[[Mapping[str, Any] | str], DeviceToken] | None = None
    from_vendor_document: Callable[[dict[str, Any]], dict[str, Any]] = _document_as_given
    key_file_fields: Callable[[str], dict[str, Any]] | None = None
    credential_audience: Callable[[str], str] | None = None

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.secret)

    @property
    def text_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.text)


def require_fields(name: str, config: Mapping[str, Any], required: Iterable[tuple[str, ...]]) -> None:
    """Exactly one field of each group is given (not None, "" or {}).

    :raises CredentialError: the first missing group, or the second field of
        a group given twice.
    """
    for options in required:
        present = [option for option in options if config.get(option) not in (None, "", {})]
        if not present:
            raise CredentialError(options[0], f"required for {name}")
        if len(present) > 1:
            raise CredentialError(present[1], f"give only one of {', '.join(options)}")
