"""Signed user ids: prove that a browser's ``uid`` was handed out by the app's own backend.

A page that subscribes a browser for user ``uid`` cannot hold the app's
secret, so the app's backend computes ``signature_for(secret, uid)`` when it
renders the page and the page passes it to ``pushgate.subscribe({uid,
uidSignature})``; pushgate recomputes it with the app's secret before it
attaches the subscription to that user, so a visitor cannot subscribe a
browser in someone else's name. This is Pushpad's scheme
(https://pushpad.xyz/docs/identifying_users — the ``uidSignature`` option of
its JavaScript SDK, ``signature_for`` in its server libraries):

    signature = lowercase hex of HMAC-SHA256(key=secret, message=uid), both UTF-8

so backends in any language produce the same string
(``hmac.new(secret, uid, sha256).hexdigest()``). The app has one secret
(docs/websdk.md; ``PUT /v1/app/uid-secret`` sets a chosen one, which is how
a Pushpad client's ``signature_for``, keyed with its API token, keeps
working: docs/pushpad.md). Pure library code: no server import.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["signature_for", "verify", "verify_signature"]


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def signature_for(secret: str | bytes, uid: str) -> str:
    """The hex HMAC-SHA256 of ``uid`` (UTF-8) under ``secret`` (Pushpad's ``signature_for``)."""
    return hmac.new(_key(secret), uid.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, uid: str, signature: str | None) -> bool:
    """Whether ``signature`` is ``signature_for(secret, uid)``: constant time, hex in either case."""
    if not isinstance(signature, str) or not signature:
        return False
    return hmac.compare_digest(signature_for(secret, uid), signature.strip().lower())


verify = verify_signature  # the shorter name
