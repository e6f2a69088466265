"""Web Push credentials: the VAPID key pair's private key and the contact subject (RFC 8292)."""

from __future__ import annotations

from typing import Any, Final

from pushgate.errors import ConfigurationError
from pushgate.providers._credentials import required_text
from pushgate.providers._spec import CredentialError, CredentialField, require_fields

NAME: Final = "webpush"

FIELDS: Final = (
    CredentialField("vapid_private_key", text=False, secret=True),
    CredentialField("vapid_subject"),
)
REQUIRED: Final = (("vapid_private_key",), ("vapid_subject",))

__all__ = ["FIELDS", "REQUIRED", "check_stored", "key_file_fields", "validate"]


def key_file_fields(text: str) -> dict[str, Any]:
    """The VAPID private key's PEM file."""
    return {"vapid_private_key": text}


def check_stored(config: dict[str, Any]) -> dict[str, Any]:
    """The shape stored Web Push credentials must have (the key is not parsed)."""
    require_fields(NAME, config, REQUIRED)
    return config


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """The key is a P-256 private key (PEM or base64url); the subject one push services accept."""
    from pushgate.crypto.vapid import VapidKey, validate_subject

    key = config.get("vapid_private_key")
    if not isinstance(key, str) or not key.strip():
        raise CredentialError("vapid_private_key", "required: PEM text or the base64url private key")
    try:
        VapidKey.load(key.strip())
    except ConfigurationError:
        raise CredentialError("vapid_private_key", "is not a P-256 private key (PEM or base64url)") from None
    subject = required_text(config, "vapid_subject", "(mailto: or https: URI)")
    try:
        validate_subject(subject)
    except ConfigurationError as exc:
        raise CredentialError("vapid_subject", str(exc)) from None
    return config
