"""Provider credentials encrypted at rest: each secret value sealed with AES-256-GCM.

A database backup must not hand out every app's push keys. So when
``settings.secret_key`` is set, every secret value of a credentials config
(what redaction masks: :mod:`pushgate.registry._redact`) is stored as
``pushgate:enc:v1:`` + base64url(nonce || ciphertext), the plaintext being
the value's JSON (a string stays a string, a number a number). The rest of
the config — topic, key_id, team_id, environment, the pause record the
workers keep under ``_pause`` — stays plain JSON that can be queried and
shown.

- The AES key is derived from the secret with HKDF-SHA256 and a fixed
  label, so any long passphrase works and the key is used for nothing else.
- The associated data is (app id, provider, field path): a value copied to
  another app's row, another provider or another field does not decrypt.
- Values stored in plain text (rows written before a key was set) are read
  as they are, so turning encryption on never breaks a running app;
  ``pushgate app reencrypt`` then seals them. Rotation: the new key becomes
  ``secret_key``, the old one goes to ``previous_secret_keys`` (tried when
  the current key does not open a value), and ``reencrypt`` moves every row
  to the new key.

Error messages name the app, the provider and the field, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pushgate.errors import ConfigurationError
from pushgate.registry._redact import FieldPath, map_secrets
from pushgate.service.settings import SECRET_KEY_MIN_LENGTH

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from pushgate.service.settings import Settings

SEALED_PREFIX = "pushgate:enc:v1:"
HKDF_INFO = b"pushgate credentials encryption v1"
NONCE_BYTES = 12  # the GCM standard nonce; random per value


class CredentialsUnreadable(ConfigurationError):
    """Stored credentials hold a sealed value that no configured key opens."""

    def __init__(self, app_id: int, provider: str, field: str, reason: str) -> None:
        super().__init__(f"the {provider} credentials of app {app_id} cannot be decrypted "
                         f"({field}): {reason}")
        self.app_id = app_id
        self.provider = provider


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


class CredentialCipher:
    """Seals and opens the secret values of credentials configs (see the module docstring).

    Without a current key nothing is sealed and plain values are read as
    they are; sealed values can still be opened with ``previous`` keys.
    """

    def __init__(self, secret: str | None, previous: Sequence[str] = ()) -> None:
        for key in (secret, *previous):
            if key is not None and len(key) < SECRET_KEY_MIN_LENGTH:
                raise ConfigurationError(f"a secret key must be at least {SECRET_KEY_MIN_LENGTH} characters")
        self._secret = secret
        self._previous_secrets = tuple(previous)
        self._keys: tuple[AESGCM | None, list[AESGCM]] | None = None

    def _derived(self) -> tuple[AESGCM | None, list[AESGCM]]:
        """(current key, previous keys), derived on first use: an idle server never loads cryptography."""
        if self._keys is None:
            current = _aead(self._secret) if self._secret is not None else None
            self._keys = (current, [_aead(key) for key in self._previous_secrets])
        return self._keys

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        """The cipher of ``settings.secret_key`` and ``settings.previous_secret_keys``."""
        current = settings.secret_key.get_secret_value() if settings.secret_key is not None else None
        return cls(current, [key.get_secret_value() for key in settings.previous_secret_keys])

    @property
    def enabled(self) -> bool:
        """True when new values are sealed (a current key is set)."""
        return self._secret is not None

    def seal(self, app_id: int, provider: str, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` with its secret values sealed with the current key (a copy; as is without one)."""
        if self._secret is None:
            return map_secrets(config, lambda _path, value: value)
        current = self._derived()[0]
        assert current is not None
        return map_secrets(config, lambda path, value: _seal(current, app_id, provider, path, value))

    def open(self, app_id: int, provider: str, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` with every sealed value opened; plain values are returned as they are.

        :raises CredentialsUnreadable: a sealed value and no key that opens it.
        """
        def open_value(path: FieldPath, value: Any) -> Any:
            if not is_sealed(value):
                return value
            return self._open(app_id, provider, path, value)[0]

        return map_secrets(config, open_value)

    def unreadable(self, app_id: int, provider: str, config: dict[str, Any]) -> CredentialsUnreadable | None:
        """Why :meth:`open` refuses ``config`` (the error the workers meet), or None if it opens.

        For what lists stored credentials: their secrets show as *** whether
        this key opens them or not, so a list says which ones it does not.
        """
        try:
            self.open(app_id, provider, config)
        except CredentialsUnreadable as exc:
            return exc
        return None

    def reseal(self, app_id: int, provider: str, config: dict[str, Any]) -> dict[str, Any] | None:
        """``config`` with every secret value sealed with the current key, or None if it already is.

        Plain values and values sealed with a previous key are (re)sealed;
        values the current key opens are kept byte for byte, so running it
        twice changes nothing the second time.

        :raises ConfigurationError: no current key.
        :raises CredentialsUnreadable: a sealed value and no key that opens it.
        """
        current = self._derived()[0]
        if current is None:
            raise ConfigurationError("set secret_key to re-encrypt credentials")
        changed = False

        def reseal_value(path: FieldPath, value: Any) -> Any:
            nonlocal changed
            if is_sealed(value):
                plain, by_current = self._open(app_id, provider, path, value)
                if by_current:
                    return value
                value = plain
            changed = True
            return _seal(current, app_id, provider, path, value)

        resealed = map_secrets(config, reseal_value)
        return resealed if changed else None

    def _open(self, app_id: int, provider: str, path: FieldPath, value: str) -> tuple[Any, bool]:
        """The plaintext of a sealed value, and whether the current key opened it."""
        field = _field_name(path)
        try:
            blob = base64.urlsafe_b64decode(value[len(SEALED_PREFIX):].encode("ascii"))
        except (ValueError, binascii.Error):
            raise CredentialsUnreadable(app_id, provider, field, "not a sealed value") from None
        if len(blob) <= NONCE_BYTES:
            raise CredentialsUnreadable(app_id, provider, field, "not a sealed value")
        nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        aad = _associated_data(app_id, provider, path)
        from cryptography.exceptions import InvalidTag

        current, previous = self._derived()
        keys: list[tuple[AESGCM, bool]] = [(key, False) for key in previous]
        if current is not None:
            keys.insert(0, (current, True))
        if not keys:
            raise CredentialsUnreadable(app_id, provider, field, "encrypted, and no secret_key is set")
        for key, is_current in keys:
            try:
                plaintext = key.decrypt(nonce, ciphertext, aad)
            except InvalidTag:
                continue
            return json.loads(plaintext), is_current
        raise CredentialsUnreadable(
            app_id, provider, field,
            "neither secret_key nor previous_secret_keys opens them (a different key, "
            "or a value copied from another app, provider or field)",
        )


def _aead(secret: str) -> AESGCM:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret.encode())
    return AESGCM(key)


def _seal(key: AESGCM, app_id: int, provider: str, path: FieldPath, value: Any) -> str:
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(value, separators=(",", ":")).encode()
    ciphertext = key.encrypt(nonce, plaintext, _associated_data(app_id, provider, path))
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")


def _associated_data(app_id: int, provider: str, path: FieldPath) -> bytes:
    # AAD binds the value to its row and field: JSON keeps the parts unambiguous.
    return json.dumps(["pushgate-credentials", app_id, provider, list(path)], separators=(",", ":")).encode()


def _field_name(path: FieldPath) -> str:
    return ".".join(str(part) for part in path)


__all__ = ["SEALED_PREFIX", "CredentialCipher", "CredentialsUnreadable", "is_sealed"]
