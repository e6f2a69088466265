"""Legacy ``aesgcm`` Web Push encryption (draft-ietf-webpush-encryption-04).

docs/protocols/webpush.md §4.3: the salt and the sender's key travel in the
``Encryption: salt=`` and ``Crypto-Key: dh=`` headers, not in the body; the
key derivation mixes in a ``P-256`` context; each record starts with a
2-byte padding length. Only old subscriptions need it, and only the
simulator uses it (it accepts ``aesgcm`` behind a flag, as autopush still
does); pushgate sends ``aes128gcm``.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pushgate.crypto.ece import (
    _CURVE,
    _ECDH,
    DEFAULT_RECORD_SIZE,
    SALT_SIZE,
    TAG_SIZE,
    ECEError,
    UserAgentKeys,
    _hmac,
    _nonce_for,
    _open_record,
    _private_key,
    _public_bytes,
    load_public_key,
)

__all__ = ["decrypt_aesgcm", "encrypt_aesgcm"]


def _aesgcm_keys(
    secret: bytes, auth_secret: bytes, salt: bytes, ua_public: bytes, as_public: bytes
) -> tuple[bytes, bytes]:
    ikm = _hmac(_hmac(auth_secret, secret), b"Content-Encoding: auth\x00\x01")
    context = b"P-256\x00\x00\x41" + ua_public + b"\x00\x41" + as_public
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aesgcm\x00" + context + b"\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00" + context + b"\x01")[:12]
    return cek, nonce


def encrypt_aesgcm(
    plaintext: bytes,
    ua_public: bytes,
    auth_secret: bytes,
    *,
    salt: bytes | None = None,
    as_private: ec.EllipticCurvePrivateKey | bytes | None = None,
    record_size: int = DEFAULT_RECORD_SIZE,
) -> tuple[bytes, bytes, bytes]:
    """Legacy ``aesgcm``: returns ``(body, salt, as_public)`` for the
    ``Encryption: salt=`` and ``Crypto-Key: dh=`` headers."""
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    ua_key = load_public_key(ua_public)
    ephemeral = ec.generate_private_key(_CURVE) if as_private is None else _private_key(as_private)
    as_public = _public_bytes(ephemeral)
    cek, nonce = _aesgcm_keys(ephemeral.exchange(_ECDH, ua_key), auth_secret, salt, ua_public, as_public)
    aead = AESGCM(cek)
    chunk = record_size - 2
    out = []
    seq = offset = 0
    while True:  # a plaintext filling its last record exactly gets an empty one after it
        data = plaintext[offset : offset + chunk]
        out.append(aead.encrypt(_nonce_for(nonce, seq), b"\x00\x00" + data, None))
        offset += chunk
        seq += 1
        if len(data) < chunk:
            return b"".join(out), salt, as_public


def decrypt_aesgcm(
    body: bytes,
    ua_private: UserAgentKeys | ec.EllipticCurvePrivateKey | bytes,
    auth_secret: bytes | None = None,
    *,
    salt: bytes,
    dh: bytes,
    record_size: int = DEFAULT_RECORD_SIZE,
) -> bytes:
    """Decrypt legacy ``aesgcm``: records of ``rs + 16`` bytes, each with a
    2-byte padding length, zero padding, then data."""
    if isinstance(ua_private, UserAgentKeys):
        keys = ua_private
    else:
        if auth_secret is None:
            raise ECEError("the auth secret is needed")
        keys = UserAgentKeys(ua_private, auth_secret)
    if len(salt) != SALT_SIZE:
        raise ECEError("the Encryption salt is 16 bytes")
    if record_size < 3:
        raise ECEError("record size below 3")
    as_key = load_public_key(dh)
    cek, nonce = _aesgcm_keys(
        keys.private_key.exchange(_ECDH, as_key), keys.auth_secret, salt, keys.public_bytes, dh
    )
    aead = AESGCM(cek)
    chunk = record_size + TAG_SIZE
    if not body or len(body) % chunk == 0:
        raise ECEError("aesgcm body is empty or truncated at a record boundary")
    out = []
    for seq, start in enumerate(range(0, len(body), chunk)):
        plain = _open_record(aead, _nonce_for(nonce, seq), body[start : start + chunk])
        pad = int.from_bytes(plain[:2], "big")
        if 2 + pad > len(plain) or any(plain[2 : 2 + pad]):
            raise ECEError("aesgcm record padding is malformed")
        out.append(plain[2 + pad :])
    return b"".join(out)
