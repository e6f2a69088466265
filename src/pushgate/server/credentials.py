"""Checking an app's provider credentials when they are stored, not when they fail.

The registry checks that the required fields are present; this goes one
step further for the API: keys must parse (an APNs ``.p8`` as an EC P-256
key, an FCM service account's RSA key, a VAPID key), the VAPID subject must
be one Apple accepts, URLs must be URLs. A typo is then a 422 naming the
field at ``PUT`` time instead of a paused app an hour later.

The provider-specific checks are the provider spec's ``validate``; here are
the endpoint overrides every provider takes (``base_url``, ``token_url``,
``ca_file``, ``allowed_hosts``). Messages never quote the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pushgate.providers import CredentialError, provider_spec
from pushgate.providers._credentials import check_url
from pushgate.registry import ValidationError

_URL_FIELDS = ("base_url", "token_url")
_TEXT_FIELDS = ("ca_file",)


def check_credentials(provider: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config to store; raises ValidationError naming the field (relative to the body)."""
    spec = provider_spec(provider)
    clean = dict(config)
    try:
        for name in (*_TEXT_FIELDS, *spec.text_fields):
            if name in clean and clean[name] is not None and not isinstance(clean[name], str):
                raise CredentialError(name, "must be a string")
        for name in _URL_FIELDS:
            if clean.get(name) is not None:
                check_url(clean[name], name)
        hosts = clean.get("allowed_hosts")
        if hosts is not None and (
            not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts)
        ):
            raise CredentialError("allowed_hosts", 'a list of "host" or "host:port" strings')
        return spec.validate(clean)
    except CredentialError as exc:
        raise ValidationError(exc.field, exc.message) from None
