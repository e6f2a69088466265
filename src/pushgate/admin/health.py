"""Credential health for the admin UI: pauses, certificate expiry, secret fingerprints.

Secrets are write-only: a page shows a fingerprint of each secret value (the
first 16 hex digits of its SHA-256), enough to tell which key is installed
and whether two apps share one, never the value. Certificates are read here
only to show their expiry: APNs client certificates last a year and stop
working the moment they expire (developer.apple.com, "Establishing a
certificate-based connection to APNs"), so the UI warns ``EXPIRY_WARNING``
before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from pushgate.registry import CredentialCipher, CredentialsUnreadable, get_credentials, list_credentials
from pushgate.registry._redact import map_secrets
from pushgate.registry.constants import ProviderName
from pushgate.registry.models import utcnow
from pushgate.registry.pauses import PAUSE_KEY, app_pauses

EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    provider: str
    configured: bool
    shown: dict[str, Any] | None  # the config with secrets as fingerprints
    updated_at: datetime | None
    paused_until: datetime | None
    last_error: str | None
    certificate_expires: datetime | None
    unreadable: str | None = None  # the secret_key cannot open the stored secrets

    @property
    def expiry_warning(self) -> bool:
        return self.certificate_expires is not None and self.certificate_expires - utcnow() <= EXPIRY_WARNING

    @property
    def expired(self) -> bool:
        return self.certificate_expires is not None and self.certificate_expires <= utcnow()


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects (an FCM service account) as dotted names, one line each."""
    out: dict[str, Any] = {}
    for name, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def fingerprint(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def certificate_expiry(pem: str) -> datetime | None:
    """The earliest ``notAfter`` of the certificates in a PEM text (None if it holds none)."""
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return None
    return min((c.not_valid_after_utc for c in certificates), default=None)


def provider_health(session: Session, app_id: int, cipher: CredentialCipher) -> list[ProviderHealth]:
    """Each provider of the app: configured or not, its fingerprints, pause and certificate."""
    rows = {row.provider: row for row in list_credentials(session, app_id)}
    pauses = app_pauses(session, app_id)
    now = utcnow().timestamp()
    out = []
    for provider in ProviderName:
        name = provider.value
        row = rows.get(name)
        pause = pauses.get(name)
        shown: dict[str, Any] | None = None
        expires = None
        unreadable = None
        if row is not None:
            try:
                plain = get_credentials(session, app_id, name, cipher=cipher)
                config = {k: v for k, v in (plain.config if plain else {}).items() if k != PAUSE_KEY}
                shown = _flat(map_secrets(config, lambda _path, value: fingerprint(value)))
                certificate = config.get("certificate")
                if isinstance(certificate, str):
                    expires = certificate_expiry(certificate)
            except CredentialsUnreadable as exc:
                unreadable = str(exc)
                shown = {k: v for k, v in row.redacted().items() if k != PAUSE_KEY}
        out.append(ProviderHealth(
            provider=name, configured=row is not None, shown=shown,
            updated_at=row.updated_at if row is not None else None,
            paused_until=pause.until_datetime if pause is not None and pause.active(now) else None,
            last_error=pause.error if pause is not None else None,
            certificate_expires=expires, unreadable=unreadable,
        ))
    return out
