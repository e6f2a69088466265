"""An app's Web SDK settings: its public id, allowed origins, uid-signature rule and secret.

The browser SDK and mobile devices call pushgate's public registration
routes without the app's API key (docs/websdk.md). What they present
instead:

- the app's **public id** (``pk_…``), which names the app and is no secret;
- from a browser, an ``Origin`` that is one of the app's **allowed origins**
  (``scheme://host[:port]``), so another site cannot register subscriptions
  in the app's name from its visitors' browsers;
- to attach a subscription to a user, a **uid signature**
  (:mod:`pushgate.uid_signature`) computed with the app's **secret** —
  required when the app sets ``require_uid_signature``;
- from a mobile device, a **user token** (:mod:`pushgate.user_token`)
  signed with the same secret.

The secret is stored like a provider credential's secret field: sealed with
the server's ``secret_key`` when one is set
(:mod:`pushgate.registry.credential_cipher`, bound to the app and the name
``websdk``), shown once when it is created or rotated.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from pushgate.registry._errors import ValidationError
from pushgate.registry._types import utcnow
from pushgate.registry.apps import require_app
from pushgate.registry.credential_cipher import CredentialCipher
from pushgate.registry.websdk_tables import WebSdkConfig

__all__ = [
    "MAX_ORIGINS",
    "MIN_SECRET_LENGTH",
    "WebSdkConfig",
    "configure_web_sdk",
    "find_by_public_id",
    "get_web_sdk",
    "normalize_origin",
    "origin_allowed",
    "sdk_secret",
    "vapid_public_key",
]

MAX_ORIGINS = 50
PUBLIC_ID_PREFIX = "pk_"
MIN_SECRET_LENGTH = 16
_CIPHER_NAME = "websdk"  # the "provider" the sealed secret is bound to (associated data)
_SECRET_FIELD = "secret"


def normalize_origin(origin: str, field: str = "allowed_origins") -> str:
    """``scheme://host[:port]`` in lower case, the form browsers send in ``Origin`` (RFC 6454 §6.1)."""
    text = origin.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(field, f"{origin!r} is not an origin such as https://www.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValidationError(field, f"{origin!r}: an origin has no path, query or credentials")
    try:
        port = parts.port
    except ValueError:
        raise ValidationError(field, f"{origin!r} has an invalid port") from None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def get_web_sdk(session: Session, app_id: int) -> WebSdkConfig | None:
    return session.get(WebSdkConfig, app_id)


def find_by_public_id(session: Session, public_id: str) -> WebSdkConfig | None:
    if not public_id.startswith(PUBLIC_ID_PREFIX) or len(public_id) > 40:
        return None
    return session.scalar(select(WebSdkConfig).where(WebSdkConfig.public_id == public_id))


def origin_allowed(config: WebSdkConfig, origin: str | None) -> bool:
    """Whether a browser request from ``origin`` may use the app's public routes."""
    if origin is None:
        return False
    try:
        return normalize_origin(origin, "header.origin") in (config.allowed_origins or [])
    except ValidationError:
        return False  # "null" (opaque origins) and anything else that is no origin


def sdk_secret(config: WebSdkConfig, cipher: CredentialCipher) -> str:
    """The app's secret in plain text (uid signatures, user tokens)."""
    opened = cipher.open(config.app_id, _CIPHER_NAME, {_SECRET_FIELD: config.secret})
    return str(opened[_SECRET_FIELD])


def configure_web_sdk(
    session: Session,
    app_id: int,
    cipher: CredentialCipher,
    *,
    allowed_origins: Iterable[str] | None = None,
    require_uid_signature: bool | None = None,
    rotate_secret: bool = False,
    secret: str | None = None,
    now: datetime | None = None,
) -> tuple[WebSdkConfig, str | None]:
    """Create or change the app's Web SDK settings; ``None`` leaves a setting as it is.

    ``secret``: use this secret (at least ``MIN_SECRET_LENGTH`` characters) instead of a
    random one, e.g. the token a Pushpad client signs uids with (docs/pushpad.md).
    Returns the row and the secret in plain text when it was just created or
    rotated (shown once), else None.
    """
    require_app(session, app_id)
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise ValidationError("secret", f"at least {MIN_SECRET_LENGTH} characters")
    now = now or utcnow()
    origins = None
    if allowed_origins is not None:
        origins = sorted({normalize_origin(o) for o in allowed_origins})
        if len(origins) > MAX_ORIGINS:
            raise ValidationError("allowed_origins", f"at most {MAX_ORIGINS} origins")
    config = session.get(WebSdkConfig, app_id)
    new_secret = None
    if config is None:
        new_secret = secret or _new_secret()
        config = WebSdkConfig(
            app_id=app_id, public_id=PUBLIC_ID_PREFIX + secrets.token_urlsafe(18),
            allowed_origins=origins or [], require_uid_signature=bool(require_uid_signature),
            secret=_seal(cipher, app_id, new_secret), created_at=now, updated_at=now,
        )
        session.add(config)
    else:
        if origins is not None:
            config.allowed_origins = origins
        if require_uid_signature is not None:
            config.require_uid_signature = require_uid_signature
        if rotate_secret or secret is not None:
            new_secret = secret or _new_secret()
            config.secret = _seal(cipher, app_id, new_secret)
        config.updated_at = now
    session.flush()
    return config, new_secret


def _new_secret() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def _seal(cipher: CredentialCipher, app_id: int, secret: str) -> str:
    return str(cipher.seal(app_id, _CIPHER_NAME, {_SECRET_FIELD: secret})[_SECRET_FIELD])


def vapid_public_key(session: Session, app_id: int, cipher: CredentialCipher) -> str | None:
    """The app's VAPID public key (base64url, the ``applicationServerKey`` browsers take), or
    None when the app has no Web Push credentials."""
    from pushgate.crypto.vapid import VapidKey
    from pushgate.registry.apps import get_credentials

    credentials = get_credentials(session, app_id, "webpush", cipher=cipher)
    if credentials is None:
        return None
    return VapidKey.load(str(credentials.config["vapid_private_key"]).strip()).application_server_key
