"""The uid signature a web page sends with a subscription: HMAC-SHA256 of the uid.

A page that subscribes a browser for user ``uid`` cannot hold the app's
secret, so the app's backend computes ``signature_for(secret, uid)`` when it
renders the page and the page passes it to ``pushgate.subscribe({uid,
uidSignature})``. pushgate recomputes it with the app's secret before it
attaches the subscription to that user: a visitor cannot subscribe a
browser in someone else's name. Hex lower case, as Pushpad's helpers print
it, so backends in any language produce the same string
(``hmac.new(secret, uid, sha256).hexdigest()``).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["signature_for", "verify", "verify_signature"]


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def signature_for(secret: str | bytes, uid: str) -> str:
    """The hex HMAC-SHA256 of ``uid`` (UTF-8) under ``secret``."""
    return hmac.new(_key(secret), uid.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, uid: str, signature: str | None) -> bool:
    """Whether ``signature`` is ``signature_for(secret, uid)`` (constant-time; case-insensitive hex)."""
    if not isinstance(signature, str) or not signature:
        return False
    return hmac.compare_digest(signature_for(secret, uid), signature.strip().lower())


verify = verify_signature  # the shorter name
