"""Signed user ids: prove that a browser's ``uid`` was handed out by the app's own backend.

A page that registers a push subscription for a user sends the user's id
with it. Anyone can type any id into a browser console, so the app's
backend signs the id and the page sends the signature along; the server
accepts the id only when the signature matches. This is Pushpad's scheme
(https://pushpad.xyz/docs/identifying_users — the ``uidSignature`` option of
its JavaScript SDK, and ``signature_for`` in its server libraries):

    signature = lowercase hex of HMAC-SHA256(key=secret, message=uid), both UTF-8

Pushpad's libraries key the HMAC with the account's API token; pushgate keys
it with the app's ``uid_secret`` (docs/pushpad.md explains how a Pushpad
client's ``signature_for`` keeps working). This module is pure library code:
no server import, usable from any backend that only wants to sign.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEX_LENGTH = 64  # SHA-256: 32 bytes, 64 hex digits


def signature_for(secret: str, uid: str) -> str:
    """The hex HMAC-SHA256 of ``uid`` keyed with ``secret`` (Pushpad's ``signature_for``)."""
    return hmac.new(secret.encode(), uid.encode(), hashlib.sha256).hexdigest()


def verify_signature(secret: str, uid: str, signature: str) -> bool:
    """Whether ``signature`` is ``uid``'s signature under ``secret``, compared in constant time.

    Upper-case hex is accepted too (some languages' hex encoders default to
    it); anything that is not 64 hex digits is simply not a match.
    """
    if not isinstance(signature, str) or len(signature) != SIGNATURE_HEX_LENGTH:
        return False
    return hmac.compare_digest(signature_for(secret, uid), signature.lower())


__all__ = ["SIGNATURE_HEX_LENGTH", "signature_for", "verify_signature"]
