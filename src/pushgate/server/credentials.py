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


def check_credentials(provider: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The config to store; raises ValidationError naming the field (relative to the body)."""
    spec = provider_spec(provider)
    clean = dict(config)
    try:
        check_overrides(clean, spec.text_fields)
        return spec.validate(clean)
    except CredentialError as exc:
        raise ValidationError(exc.field, exc.message) from None
