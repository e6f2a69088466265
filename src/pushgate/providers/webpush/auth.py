"""Web Push auth: VAPID headers signed per push-service origin and cached (RFC 8292).

A JWT is reusable for its audience until it expires, so :class:`Vapid` signs
one per origin and keeps it until less than an hour is left (signing per
request would cost an ECDSA signature each time; a push service sees the
same token for hours, as with pywebpush). Keys and JWT signing are the
shared :mod:`pushgate.crypto.vapid`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.crypto.vapid import (
    DEFAULT_LIFETIME,
    MAX_LIFETIME,
    REFRESH_MARGIN,
    VapidKey,
    validate_subject,
)
from pushgate.errors import ConfigurationError

__all__ = ["Vapid"]


@dataclass(slots=True)
class _Signed:
    header: str
    expires: float


class Vapid:
    """Signs and caches VAPID headers per audience (push service origin).

    :param key: the application server key, in any form :meth:`VapidKey.load` takes.
    :param subject: the ``sub`` contact, validated by :func:`validate_subject`.
    :param clock: epoch seconds; injectable so tests can move time.
    :param lifetime: seconds a JWT is valid (at most 24 h).
    """

    def __init__(
        self,
        key: VapidKey | ec.EllipticCurvePrivateKey | str | bytes | Path,
        subject: str,
        *,
        clock: Callable[[], float] = time.time,
        lifetime: int = DEFAULT_LIFETIME,
    ) -> None:
        if not REFRESH_MARGIN < lifetime <= MAX_LIFETIME:
            raise ConfigurationError("the VAPID lifetime must be above 1 hour and at most 24 hours")
        self.key = VapidKey.load(key)
        self.subject = validate_subject(subject)
        self.clock = clock
        self.lifetime = lifetime
        self._cache: dict[str, _Signed] = {}
        self._lock = asyncio.Lock()
        self.signed = 0  # how many JWTs were made (observable in tests)

    def __repr__(self) -> str:
        return f"Vapid(subject={self.subject!r}, key={self.key!r})"

    def cached(self, audience: str) -> str | None:
        """The header for ``audience`` if a cached JWT has more than an hour left."""
        entry = self._cache.get(audience)
        if entry is not None and entry.expires - self.clock() > REFRESH_MARGIN:
            return entry.header
        return None

    async def header(self, audience: str) -> str:
        """The ``Authorization`` value for ``audience``, signing a new JWT when needed.

        Under a lock so concurrent sends to a new origin sign once.
        """
        value = self.cached(audience)
        if value is not None:
            return value
        async with self._lock:
            value = self.cached(audience)
            if value is None:
                value = self._sign(audience)
            return value

    def _sign(self, audience: str) -> str:
        expires = int(self.clock()) + self.lifetime
        claims: dict[str, object] = {"aud": audience, "exp": expires, "sub": self.subject}
        token = self.key.sign_jwt(claims)
        value = f"vapid t={token}, k={self.key.application_server_key}"
        self._cache[audience] = _Signed(value, expires)
        self.signed += 1
        return value

    def invalidate(self, audience: str | None = None) -> None:
        """Forget cached JWTs (all, or one audience's)."""
        if audience is None:
            self._cache.clear()
        else:
            self._cache.pop(audience, None)
