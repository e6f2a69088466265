"""APNs credentials: a ``.p8`` signing key (token auth) or a client certificate.

Token auth: ``key`` (the PEM of the ``.p8``, an EC P-256 key), ``key_id``,
``team_id``. Certificate auth: ``certificate`` (PEM), with its private key
in ``certificate_key`` or in the same PEM. Either way ``topic`` (the app's
bundle id) and ``environment`` (production or sandbox).
"""

from __future__ import annotations

import re
from typing import Any, Final

from pushgate.providers._credentials import pem_private_key, required_text
from pushgate.providers._spec import CredentialError, CredentialField, require_fields

NAME: Final = "apns"
ENVIRONMENTS: Final = ("production", "sandbox")

FIELDS: Final = (
    CredentialField("topic"),
    CredentialField("environment", text=False),
    CredentialField("key", text=False, secret=True),
    CredentialField("key_id"),
    CredentialField("team_id"),
    CredentialField("certificate", text=False, secret=True),
    CredentialField("certificate_key", text=False, secret=True),
)
REQUIRED: Final = (("topic",), ("environment",), ("key", "certificate"))

# Token auth's Key ID (the JWT's "kid") and Team ID (its "iss") are Apple's 10-character
# identifiers (developer.apple.com, "Establishing a token-based connection to APNs"), made of
# letters and digits. Anything else is a slip in copying them, which APNs would answer with
# 403 InvalidProviderToken on every request instead of once, here.
APPLE_ID: Final = re.compile(r"[A-Za-z0-9]{10}")
_WHERE_TO_FIND: Final = {
    "key_id": ("Key IDs", "the .p8 key file is named AuthKey_<Key ID>.p8"),
    "team_id": ("Team IDs", "your developer account's Membership details show it"),
}

__all__ = [
    "APPLE_ID", "ENVIRONMENTS", "FIELDS", "REQUIRED", "check_apple_id", "check_stored", "key_file_fields",
    "validate",
]


def check_apple_id(value: Any, field: str) -> str:
    """``value`` if it is a Key ID or Team ID as Apple issues them (``field``: key_id or team_id).

    :raises CredentialError: naming the field, with where the right value is found.
    """
    if isinstance(value, str) and APPLE_ID.fullmatch(value):
        return value
    what, where = _WHERE_TO_FIND[field]
    if not isinstance(value, str):
        found = "this is not text"
    elif len(value) != 10:
        found = f"this is {len(value)} characters"
    else:
        found = "this has other characters"
    raise CredentialError(field, f"Apple's {what} are 10 letters and digits; {found} ({where})")


def key_file_fields(text: str) -> dict[str, Any]:
    """A ``.p8`` token key, or a certificate (whose export often carries its private key too)."""
    if "CERTIFICATE-----" in text:
        return {"certificate": text, **({"certificate_key": text} if "PRIVATE KEY-----" in text else {})}
    return {"key": text}


def check_stored(config: dict[str, Any]) -> dict[str, Any]:
    """The shape stored APNs credentials must have (no key is parsed)."""
    require_fields(NAME, config, REQUIRED)
    if config["environment"] not in ENVIRONMENTS:
        raise CredentialError("environment", f"one of {', '.join(ENVIRONMENTS)}")
    if "key" in config:
        for name in ("key_id", "team_id"):
            if not config.get(name):
                raise CredentialError(name, "required with an APNs signing key")
        for name in ("key_id", "team_id"):
            check_apple_id(config[name], name)
    return config


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Keys and certificates parse; token auth has its ids (environment defaults to production)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    required_text(config, "topic", "(the app's bundle id)")
    config.setdefault("environment", "production")
    if config["environment"] not in ENVIRONMENTS:
        raise CredentialError("environment", f"one of {', '.join(ENVIRONMENTS)}")
    has_key, has_cert = bool(config.get("key")), bool(config.get("certificate"))
    if has_key == has_cert:
        raise CredentialError("key", "give key, key_id and team_id (token auth) or certificate (not both)")
    if has_key:
        key = pem_private_key(config["key"], "key")
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise CredentialError("key", "an APNs signing key (.p8) is an EC P-256 key")
        for name in ("key_id", "team_id"):
            check_apple_id(required_text(config, name, "with a signing key"), name)
        return config
    certificate = config["certificate"]
    if not isinstance(certificate, str) or "CERTIFICATE-----" not in certificate:
        raise CredentialError("certificate", "must be the PEM text of the client certificate")
    try:
        x509.load_pem_x509_certificate(certificate.encode())
    except ValueError:
        raise CredentialError("certificate", "is not a readable PEM certificate") from None
    if config.get("certificate_key") is not None:
        pem_private_key(config["certificate_key"], "certificate_key")
    elif "PRIVATE KEY-----" not in certificate:
        raise CredentialError("certificate_key", "required unless the certificate PEM holds its key")
    return config
