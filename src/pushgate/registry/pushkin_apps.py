"""Per-app Pushkin settings: the languageId → locale table and the secret route prefix.

One row per app that configured anything (``pushkin_apps``, migration
0010). Two things live here:

- ``languages``: Pushkin's integer language ids (as decimal text) → locale
  tags, used when a login event reports a user's ``languageId``
  (:func:`pushgate.pushkin.mapping.language_for`).
- the **route secret**: clients that cannot send an ``Authorization`` or
  ``X-API-Key`` header (Pushkin's clients post to a bare URL) call the
  Pushkin routes under ``/pushkin/<secret>/…``. The secret is 256 random bits
  shown once; only its SHA-256 is stored, unique, so finding the app is one
  indexed lookup. It opens the Pushkin routes only, not ``/v1`` — a leaked
  URL from a client's configuration cannot register devices or read sends —
  and it is rotated or revoked without touching the app's API keys.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from pushgate.registry._errors import ValidationError
from pushgate.registry._types import utcnow
from pushgate.registry.apps import require_app
from pushgate.registry.pushkin_tables import PushkinApp
from pushgate.registry.validation import validate_locale

ROUTE_SECRET_SCHEME = "pkr"  # pkr_<43 base64url characters>
ROUTE_SECRET_BYTES = 32
MAX_LANGUAGES = 1000


@dataclass(frozen=True, slots=True)
class PushkinSettings:
    languages: dict[str, str] = field(default_factory=dict)
    has_route_secret: bool = False


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _row(session: Session, app_id: int) -> PushkinApp:
    require_app(session, app_id)
    row = session.get(PushkinApp, app_id)
    if row is None:
        row = PushkinApp(app_id=app_id, languages={}, route_secret_hash=None, updated_at=utcnow())
        session.add(row)
        session.flush()
    return row


def get_pushkin_settings(session: Session, app_id: int) -> PushkinSettings:
    row = session.get(PushkinApp, app_id)
    if row is None:
        return PushkinSettings()
    return PushkinSettings(dict(row.languages or {}), row.route_secret_hash is not None)


def check_languages(languages: Mapping[str, str], field_name: str = "languages") -> dict[str, str]:
    """Keys: Pushkin language ids (decimal integers); values: locale tags ("en", "pt-BR")."""
    if len(languages) > MAX_LANGUAGES:
        raise ValidationError(field_name, f"at most {MAX_LANGUAGES} languages")
    out: dict[str, str] = {}
    for key, value in languages.items():
        text = str(key).strip()
        if not text.lstrip("-").isdigit():
            raise ValidationError(f"{field_name}.{key}", "a Pushkin languageId is an integer")
        if not isinstance(value, str):
            raise ValidationError(f"{field_name}.{key}", "must be a locale tag like 'en'")
        out[str(int(text))] = validate_locale(value, f"{field_name}.{key}")
    return out


def set_languages(session: Session, app_id: int, languages: Mapping[str, str]) -> PushkinSettings:
    """Replace the app's languageId → locale table."""
    row = _row(session, app_id)
    row.languages = check_languages(languages)
    row.updated_at = utcnow()
    session.flush()
    return get_pushkin_settings(session, app_id)


def create_route_secret(session: Session, app_id: int) -> str:
    """A new route secret for the app (the previous one stops working); shown once."""
    secret = f"{ROUTE_SECRET_SCHEME}_{secrets.token_urlsafe(ROUTE_SECRET_BYTES)}"
    row = _row(session, app_id)
    row.route_secret_hash = _hash(secret)
    row.updated_at = utcnow()
    session.flush()
    return secret


def revoke_route_secret(session: Session, app_id: int) -> bool:
    row = session.get(PushkinApp, app_id)
    if row is None or row.route_secret_hash is None:
        return False
    row.route_secret_hash = None
    row.updated_at = utcnow()
    session.flush()
    return True


def app_for_route_secret(session: Session, secret: str) -> int | None:
    """The app whose route secret this is, or None."""
    if not secret.startswith(f"{ROUTE_SECRET_SCHEME}_") or len(secret) > 100:
        return None
    found: int | None = session.scalar(
        select(PushkinApp.app_id).where(PushkinApp.route_secret_hash == _hash(secret))
    )
    return found


__all__ = [
    "PushkinSettings", "app_for_route_secret", "check_languages", "create_route_secret",
    "get_pushkin_settings", "revoke_route_secret", "set_languages",
]
