"""Checking an app's provider credentials when they are stored, not when they fail.

The registry checks that the required fields are present; this goes one
step further for the API: keys must parse (an APNs ``.p8`` as an EC P-256
key, an FCM service account's RSA key, a VAPID key), the VAPID subject must
be one Apple accepts, URLs must be URLs. A typo is then a 422 naming the
field at ``PUT`` time instead of a paused app an hour later.

Key material is taken as text only (PEM, or the base64url a VAPID tool
prints): a path would make the API read files of the server's disk on a
caller's behalf. Messages never quote the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pushgate.errors import ConfigurationError
from pushgate.registry import ValidationError
from pushgate.registry.constants import APNS_ENVIRONMENTS, ProviderName

_URL_FIELDS = ("base_url", "token_url")
_TEXT_FIELDS = ("ca_file", "topic", "key_id", "team_id", "vapid_subject", "client_id", "client_secret",
                "tenant_id", "project_id")


def check_credentials(provider: ProviderName, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config to store; raises ValidationError naming the field (relative to the body)."""
    clean = dict(config)
    for name in _TEXT_FIELDS:
        if name in clean and clean[name] is not None and not isinstance(clean[name], str):
            raise ValidationError(name, "must be a string")
    for name in _URL_FIELDS:
        if clean.get(name) is not None:
            _check_url(clean[name], name)
    hosts = clean.get("allowed_hosts")
    if hosts is not None and (
        not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts)
    ):
        raise ValidationError("allowed_hosts", 'a list of "host" or "host:port" strings')
    if provider is ProviderName.APNS:
        _check_apns(clean)
    elif provider is ProviderName.FCM:
        _check_fcm(clean)
    elif provider is ProviderName.WEBPUSH:
        _check_webpush(clean)
    else:
        _check_wns(clean)
    return clean


def _check_url(value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(field, "must be an http(s) URL")


def _required_text(config: Mapping[str, Any], field: str, why: str = "") -> str:
    value = config.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, f"required {why}".strip())
    return value


# cryptography is imported by the checks that parse keys: loading it costs an
# idle server ~8 MB for what runs on a credentials PUT.


def _pem_private_key(text: Any, field: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    if not isinstance(text, str) or "-----BEGIN" not in text:
        raise ValidationError(field, "must be the PEM text of the key (-----BEGIN PRIVATE KEY-----...)")
    try:
        return serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValidationError(field, "is not a readable, unencrypted PEM private key") from None


def _check_apns(config: dict[str, Any]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    _required_text(config, "topic", "(the app's bundle id)")
    config.setdefault("environment", "production")
    if config["environment"] not in APNS_ENVIRONMENTS:
        raise ValidationError("environment", f"one of {', '.join(APNS_ENVIRONMENTS)}")
    has_key, has_cert = bool(config.get("key")), bool(config.get("certificate"))
    if has_key == has_cert:
        raise ValidationError("key", "give key, key_id and team_id (token auth) or certificate (not both)")
    if has_key:
        key = _pem_private_key(config["key"], "key")
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValidationError("key", "an APNs signing key (.p8) is an EC P-256 key")
        _required_text(config, "key_id", "with a signing key")
        _required_text(config, "team_id", "with a signing key")
        return
    certificate = config["certificate"]
    if not isinstance(certificate, str) or "CERTIFICATE-----" not in certificate:
        raise ValidationError("certificate", "must be the PEM text of the client certificate")
    try:
        x509.load_pem_x509_certificate(certificate.encode())
    except ValueError:
        raise ValidationError("certificate", "is not a readable PEM certificate") from None
    if config.get("certificate_key") is not None:
        _pem_private_key(config["certificate_key"], "certificate_key")
    elif "PRIVATE KEY-----" not in certificate:
        raise ValidationError("certificate_key", "required unless the certificate PEM holds its key")


def _check_fcm(config: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    account = config.get("service_account")
    if isinstance(account, str):
        try:
            account = json.loads(account)
        except ValueError:
            raise ValidationError("service_account", "not JSON: paste the service-account key file") from None
    if not isinstance(account, dict):
        raise ValidationError("service_account", "required: the service-account key file (JSON)")
    for name in ("project_id", "client_email", "private_key"):
        if not isinstance(account.get(name), str) or not account[name]:
            raise ValidationError(f"service_account.{name}", "required")
    if account.get("type", "service_account") != "service_account":
        raise ValidationError("service_account.type", 'must be "service_account"')
    if not isinstance(_pem_private_key(account["private_key"], "service_account.private_key"),
                      rsa.RSAPrivateKey):
        raise ValidationError("service_account.private_key", "a service-account key is an RSA key")
    if account.get("token_uri") is not None:
        _check_url(account["token_uri"], "service_account.token_uri")
    config["service_account"] = account


def _check_webpush(config: dict[str, Any]) -> None:
    from pushgate.crypto.vapid import VapidKey, validate_subject

    key = config.get("vapid_private_key")
    if not isinstance(key, str) or not key.strip():
        raise ValidationError("vapid_private_key", "required: PEM text or the base64url private key")
    try:
        VapidKey.load(key.strip())
    except ConfigurationError:
        raise ValidationError("vapid_private_key", "is not a P-256 private key (PEM or base64url)") from None
    subject = _required_text(config, "vapid_subject", "(mailto: or https: URI)")
    try:
        validate_subject(subject)
    except ConfigurationError as exc:
        raise ValidationError("vapid_subject", str(exc)) from None


def _check_wns(config: dict[str, Any]) -> None:
    _required_text(config, "client_id", "(the package SID or the Entra application id)")
    _required_text(config, "client_secret")
