"""Apps (tenants), their API keys and their provider credentials.

Service functions take a :class:`~sqlalchemy.orm.Session` and never commit:
the caller owns the transaction (``with db.session() as s: …``), so an API
request is all-or-nothing.

API keys look like ``pg_<prefix>_<secret>``. Only the SHA-256 of the key is
stored; the key is returned once, at creation. Authentication finds the
candidate rows by prefix and compares hashes in constant time.

Credentials hold secrets (APNs .p8 keys, FCM service accounts, VAPID
private keys, WNS client secrets). Given a :class:`CredentialCipher` with a
key, :func:`set_credentials` stores them encrypted
(:mod:`pushgate.registry.credential_cipher`). :func:`get_credentials`
returns them in full, decrypted, for workers; anything that displays them
uses :meth:`Credentials.redacted` on the stored rows
(:func:`list_credentials`, :func:`get_stored_credentials`). Nothing here
logs a config.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pushgate.providers import CredentialError, provider_spec
from pushgate.registry._errors import NotFound, ValidationError
from pushgate.registry._redact import redact_config
from pushgate.registry.constants import (
    API_KEY_PREFIX_ALPHABET,
    API_KEY_PREFIX_LENGTH,
    API_KEY_SCHEME,
    API_KEY_SECRET_BYTES,
    APP_SETTINGS_DEFAULTS,
    ProviderName,
)
from pushgate.registry.credential_cipher import CredentialCipher
from pushgate.registry.models import ApiKey, App, Credentials, Delivery, Send, utcnow
from pushgate.registry.validation import validate_choice


def create_app(
    session: Session,
    name: str,
    *,
    settings: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[App, str]:
    """Create an app and its first API key; returns (app, key). The key is shown once."""
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("name", "an app name is 1 to 200 characters")
    if session.scalar(select(App.id).where(App.name == name)) is not None:
        raise ValidationError("name", f"an app named {name!r} exists")
    app = App(name=name, settings=_checked_settings({}, settings or {}), created_at=now or utcnow())
    session.add(app)
    session.flush()
    _key, plaintext = create_api_key(session, app.id, name="default", now=now)
    return app, plaintext


def get_app(session: Session, app_id: int) -> App | None:
    return session.get(App, app_id)


def require_app(session: Session, app_id: int) -> App:
    app = session.get(App, app_id)
    if app is None:
        raise NotFound("app", app_id)
    return app


def get_app_by_name(session: Session, name: str) -> App | None:
    return session.scalar(select(App).where(App.name == name))


def list_apps(session: Session) -> list[App]:
    return list(session.scalars(select(App).order_by(App.id)))


def update_app_settings(session: Session, app_id: int, **changes: Any) -> App:
    """Change settings (see ``APP_SETTINGS_DEFAULTS``); unknown names are refused."""
    app = require_app(session, app_id)
    app.settings = _checked_settings(app.settings or {}, changes)
    return app


def delete_app(session: Session, app_id: int) -> bool:
    """Delete an app and everything it owns (keys, credentials, users, devices, sends, deliveries).

    Foreign keys cascade everything but deliveries, which have none (see
    :mod:`pushgate.registry.models`).
    """
    app = session.get(App, app_id)
    if app is None:
        return False
    session.execute(
        delete(Delivery).where(Delivery.send_id.in_(select(Send.id).where(Send.app_id == app_id)))
    )
    session.delete(app)
    session.flush()
    return True


def _checked_settings(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for name, value in changes.items():
        if name not in APP_SETTINGS_DEFAULTS:
            raise ValidationError(f"settings.{name}", "unknown setting")
        if name == "max_devices_per_user" and value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ValidationError(f"settings.{name}", "a positive integer or null")
        merged[name] = value
    return merged


# --- API keys -----------------------------------------------------------------


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session, app_id: int, *, name: str | None = None, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for ``app_id``; returns (row, plaintext key). Only the hash is stored."""
    require_app(session, app_id)
    prefix = "".join(secrets.choice(API_KEY_PREFIX_ALPHABET) for _ in range(API_KEY_PREFIX_LENGTH))
    plaintext = f"{API_KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(API_KEY_SECRET_BYTES)}"
    row = ApiKey(
        app_id=app_id, prefix=prefix, key_hash=_hash_key(plaintext), name=name, created_at=now or utcnow()
    )
    session.add(row)
    session.flush()
    return row, plaintext


def list_api_keys(session: Session, app_id: int) -> list[ApiKey]:
    """The app's keys (prefix, name, dates; never the hash)."""
    return list(session.scalars(select(ApiKey).where(ApiKey.app_id == app_id).order_by(ApiKey.id)))


def revoke_api_key(session: Session, app_id: int, key_id: int, *, now: datetime | None = None) -> bool:
    """Revoke a key of ``app_id``; False if it does not exist or was revoked already."""
    row = session.get(ApiKey, key_id)
    if row is None or row.app_id != app_id or row.revoked_at is not None:
        return False
    row.revoked_at = now or utcnow()
    return True


@dataclass(frozen=True, slots=True)
class AuthenticatedKey:
    """Who an API key is: its app, its public prefix, and the app's own rate limit (None: default)."""

    app_id: int
    prefix: str
    rate_limit_per_minute: int | None


def authenticate(session: Session, api_key: str) -> int | None:
    """The app id ``api_key`` belongs to, or None (unknown, malformed or revoked)."""
    key = authenticate_key(session, api_key)
    return key.app_id if key is not None else None


def authenticate_key(session: Session, api_key: str) -> AuthenticatedKey | None:
    """:func:`authenticate`, with what the API's rate limit needs (one query either way)."""
    scheme, _, rest = api_key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != API_KEY_SCHEME or len(prefix) != API_KEY_PREFIX_LENGTH or not secret:
        return None
    presented = _hash_key(api_key)
    rows = session.execute(
        select(ApiKey.app_id, ApiKey.key_hash, App.settings)
        .join(App, App.id == ApiKey.app_id)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    ).all()
    found: AuthenticatedKey | None = None
    for app_id, key_hash, settings in rows:
        if hmac.compare_digest(presented, key_hash):
            limit = (settings or {}).get("rate_limit_per_minute")
            found = AuthenticatedKey(app_id, prefix, limit if isinstance(limit, int) else None)
    return found


# --- credentials --------------------------------------------------------------


def set_credentials(
    session: Session,
    app_id: int,
    provider: str,
    config: Mapping[str, Any],
    *,
    cipher: CredentialCipher | None = None,
    now: datetime | None = None,
) -> Credentials:
    """Store (replace) the app's credentials for ``provider`` after checking their shape.

    Required fields per provider are in its spec (:mod:`pushgate.providers`);
    extra fields are kept for the provider client. An FCM service account given as JSON
    text is stored parsed, so its private key is redacted (and encrypted)
    like any other. With a ``cipher`` that has a key the secret values are
    stored encrypted; the row returned holds them as stored.
    """
    kind = validate_choice(provider, ProviderName, "provider")
    require_app(session, app_id)
    checked = _checked_credentials(kind, dict(config))
    if cipher is not None:
        checked = cipher.seal(app_id, kind.value, checked)
    row = session.get(Credentials, (app_id, kind.value))
    if row is None:
        row = Credentials(app_id=app_id, provider=kind.value, config=checked, updated_at=now or utcnow())
        session.add(row)
    else:
        row.config = checked
        row.updated_at = now or utcnow()
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class PlainCredentials:
    """An app's credentials with their secrets in plain text, for building a provider client.

    Not a row: nothing done to it is stored, so decrypted secrets can never
    be written back unencrypted.
    """

    app_id: int
    provider: str
    config: dict[str, Any] = field(repr=False)
    updated_at: datetime  # the credentials version (see pushgate.workers.clients)

    def redacted(self) -> dict[str, Any]:
        return redact_config(self.config)


def get_credentials(
    session: Session, app_id: int, provider: str, *, cipher: CredentialCipher | None = None
) -> PlainCredentials | None:
    """Full credentials, secrets decrypted: for the sender workers only.

    Values stored in plain text are returned as they are.

    :raises CredentialsUnreadable: a value is encrypted and ``cipher`` has
        no key that opens it (the message names the app and the provider).
    """
    row = session.get(Credentials, (app_id, provider))
    if row is None:
        return None
    # No cipher: plain values are read, encrypted ones refused with a clear error.
    config = (cipher or CredentialCipher(None)).open(app_id, provider, row.config)
    return PlainCredentials(row.app_id, row.provider, config, row.updated_at)


def get_stored_credentials(session: Session, app_id: int, provider: str) -> Credentials | None:
    """The row as stored (secrets possibly encrypted): to show with ``.redacted()``."""
    return session.get(Credentials, (app_id, provider))


def list_credentials(session: Session, app_id: int) -> list[Credentials]:
    """All of an app's credentials; show them with ``.redacted()``."""
    query = select(Credentials).where(Credentials.app_id == app_id).order_by(Credentials.provider)
    return list(session.scalars(query))


def delete_credentials(session: Session, app_id: int, provider: str) -> bool:
    row = session.get(Credentials, (app_id, provider))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def reencrypt_credentials(session: Session, cipher: CredentialCipher) -> tuple[int, int]:
    """Encrypt every stored credential with ``cipher``'s current key; returns (changed, total).

    Plain values and values encrypted with a previous key are encrypted
    anew; rows already entirely under the current key are left untouched,
    so a second run changes nothing.

    :raises ConfigurationError: ``cipher`` has no current key.
    :raises CredentialsUnreadable: a value no configured key opens (nothing is changed).
    """
    rows = session.scalars(
        select(Credentials).order_by(Credentials.app_id, Credentials.provider).with_for_update()
    ).all()
    changed = 0
    for row in rows:
        resealed = cipher.reseal(row.app_id, row.provider, row.config)
        if resealed is not None:
            # updated_at stays: the credentials are the same, so workers keep
            # their clients and a recorded pause still applies to them.
            row.config = resealed
            changed += 1
    session.flush()
    return changed, len(rows)


def _checked_credentials(provider: ProviderName, config: dict[str, Any]) -> dict[str, Any]:
    # The provider's spec knows its fields; the registry names them relative to its input.
    try:
        return provider_spec(provider.value).check_stored(config)
    except CredentialError as exc:
        raise ValidationError(f"config.{exc.field}", exc.message) from None
