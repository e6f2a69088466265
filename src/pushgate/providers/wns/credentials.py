"""WNS credentials: the app's client id and secret (Partner Center package SID, or an Entra app).

``tenant_id`` selects the Entra ID token endpoint instead of the classic one.
"""

from __future__ import annotations

from typing import Any, Final

from pushgate.providers._credentials import required_text
from pushgate.providers._spec import CredentialField, require_fields

NAME: Final = "wns"

FIELDS: Final = (
    CredentialField("client_id"),
    CredentialField("client_secret", secret=True),
    CredentialField("tenant_id"),
)
REQUIRED: Final = (("client_id",), ("client_secret",))

__all__ = ["FIELDS", "REQUIRED", "check_stored", "validate"]


def check_stored(config: dict[str, Any]) -> dict[str, Any]:
    """The shape stored WNS credentials must have."""
    require_fields(NAME, config, REQUIRED)
    return config


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Both ids are non-blank text (WNS checks the secret itself on the first token fetch)."""
    required_text(config, "client_id", "(the package SID or the Entra application id)")
    required_text(config, "client_secret")
    return config
