"""Which values of a credentials config are secret: one rule for redaction and encryption.

A key is secret when its name contains a marker (``SECRET_KEY_MARKERS``:
"key", "secret", "certificate", …) unless it only names a key
(``PUBLIC_KEY_NAMES``: "key_id", …). Nested objects (an FCM service
account) are walked the same way, and everything under a secret key is
secret. Erring on the side of hiding: an unknown field that looks like a
secret is treated as one — masked when shown, encrypted when stored
(:mod:`pushgate.registry.credential_cipher`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pushgate.registry.constants import PUBLIC_KEY_NAMES, REDACTED, SECRET_KEY_MARKERS

# Where a value sits in a config: its keys (and list indexes) from the top,
# e.g. ("service_account", "private_key").
FieldPath = tuple[str | int, ...]


def map_secrets(config: dict[str, Any], transform: Callable[[FieldPath, Any], Any]) -> dict[str, Any]:
    """A copy of ``config`` with ``transform(path, value)`` in place of every secret leaf value.

    Leaves are the non-container values (strings, numbers, …); None is left
    alone. Non-secret values are copied as they are.
    """

    def walk(value: Any, secret: bool, path: FieldPath) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, secret or _is_secret_name(k), (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, secret, (*path, index)) for index, v in enumerate(value)]
        return transform(path, value) if secret and value is not None else value

    return {k: walk(v, _is_secret_name(k), (k,)) for k, v in config.items()}


def redact_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a credentials config with every secret value masked."""
    return map_secrets(config, lambda _path, _value: REDACTED)


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    if lowered in PUBLIC_KEY_NAMES:
        return False
    return any(marker in lowered for marker in SECRET_KEY_MARKERS)
