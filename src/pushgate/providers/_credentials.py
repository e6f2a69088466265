"""Checks the providers' credential validators share: text, URLs, PEM keys.

Key material is taken as text only (PEM, or the base64url a VAPID tool
prints): a path would make the API read files of the server's disk on a
caller's behalf. Messages never quote the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pushgate.allowed_hosts import HostRule
from pushgate.providers._spec import CredentialError

__all__ = ["check_overrides", "check_url", "pem_private_key", "required_text"]


# The endpoint overrides every provider's credentials may carry (see Endpoint).
_URL_FIELDS = ("base_url", "token_url")
_TEXT_FIELDS = ("ca_file",)


def check_overrides(config: Mapping[str, Any], text_fields: Iterable[str] = ()) -> None:
    """The endpoint overrides are well-formed, and ``text_fields`` are strings where given.

    :raises CredentialError: naming the field.
    """
    for name in (*_TEXT_FIELDS, *text_fields):
        if name in config and config[name] is not None and not isinstance(config[name], str):
            raise CredentialError(name, "must be a string")
    for name in _URL_FIELDS:
        if config.get(name) is not None:
            check_url(config[name], name)
    hosts = config.get("allowed_hosts")
    if hosts is not None and (
        not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts)
    ):
        raise CredentialError("allowed_hosts", 'a list of "host" or "host:port" strings')
    for number, entry in enumerate(hosts or (), start=1):
        try:
            HostRule.parse(entry)
        except ValueError:
            # Read as the registry and the client will read it (a 422 now, not a paused app).
            raise CredentialError("allowed_hosts", f'entry {number} is not "host", "host:port", '
                                  '"*.suffix" or an IPv6 address ("::1", "[::1]:8443")') from None


def check_url(value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise CredentialError(field, "must be a string")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - an unreadable port ("[::1]:x") raises here, not in a worker
    except ValueError:
        raise CredentialError(field, "must be an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CredentialError(field, "must be an http(s) URL")


def required_text(config: Mapping[str, Any], field: str, why: str = "") -> str:
    value = config.get(field)
    if not isinstance(value, str) or not value.strip():
        raise CredentialError(field, f"required {why}".strip())
    return value


# cryptography is imported by the checks that parse keys: loading it costs an
# idle server ~8 MB for what runs on a credentials PUT.


def pem_private_key(text: Any, field: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    if not isinstance(text, str) or "-----BEGIN" not in text:
        raise CredentialError(field, "must be the PEM text of the key (-----BEGIN PRIVATE KEY-----...)")
    try:
        return serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CredentialError(field, "is not a readable, unencrypted PEM private key") from None
