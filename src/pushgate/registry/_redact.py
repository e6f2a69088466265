"""Redaction of credentials: what anything that displays a config shows."""

from __future__ import annotations

from typing import Any

from pushgate.registry.constants import PUBLIC_KEY_NAMES, REDACTED, SECRET_KEY_MARKERS


def redact_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a credentials config with every secret value masked.

    A key is secret when its name contains a marker (``SECRET_KEY_MARKERS``:
    "key", "secret", "certificate", …) unless it only names a key
    (``PUBLIC_KEY_NAMES``: "key_id", …). Nested objects (an FCM service
    account) are redacted the same way. Erring on the side of hiding: an
    unknown field that looks like a secret is masked.
    """

    def walk(value: Any, secret: bool) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, secret or _is_secret_name(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, secret) for v in value]
        return REDACTED if secret and value is not None else value

    return {k: walk(v, _is_secret_name(k)) for k, v in config.items()}


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    if lowered in PUBLIC_KEY_NAMES:
        return False
    return any(marker in lowered for marker in SECRET_KEY_MARKERS)
