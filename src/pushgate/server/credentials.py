"""Checking an app's provider credentials when they are stored, not when they fail.

The registry checks that the required fields are present; this goes one
step further for the API: keys must parse (an APNs ``.p8`` as an EC P-256
key, an FCM service account's RSA key, a VAPID key), the VAPID subject must
be one Apple accepts, URLs must be URLs. A typo is then a 422 naming the
field at ``PUT`` time instead of a paused app an hour later.

The provider-specific checks are the provider spec's ``validate``; the
endpoint overrides every provider takes (``base_url``, ``token_url``,
``ca_file``, ``allowed_hosts``) are checked by ``check_overrides``. Here the
provider's errors become the API's. Messages never quote the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pushgate.providers import CredentialError, check_overrides, provider_spec
from pushgate.registry import ValidationError

# The endpoint overrides every provider's credentials may carry (check_overrides).
OVERRIDE_FIELDS = ("base_url", "token_url", "ca_file", "allowed_hosts")


def credential_fields(provider: str) -> tuple[str, ...]:
    """The top-level fields a provider's credentials take (overrides not included)."""
    return tuple(dict.fromkeys(f.name.split(".", 1)[0] for f in provider_spec(provider).fields))


def check_credentials(provider: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config to store; raises ValidationError naming the field (relative to the body).

    Google's service-account key file is taken as it is for FCM (it becomes
    ``service_account``). A field the provider does not take is refused
    rather than stored: a misspelt field would otherwise be kept silently
    while the one meant stays missing.
    """
    spec = provider_spec(provider)
    clean = spec.from_vendor_document(dict(config))
    known = (*credential_fields(provider), *OVERRIDE_FIELDS)
    for name in clean:
        if name not in known:
            raise ValidationError(name, f"unknown field; {provider} takes {', '.join(known)}")
    try:
        check_overrides(clean, spec.text_fields)
        return spec.validate(clean)
    except CredentialError as exc:
        raise ValidationError(exc.field, exc.message) from None
