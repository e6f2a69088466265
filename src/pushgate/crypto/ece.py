"""Encrypted content encoding for Web Push: RFC 8188 ``aes128gcm`` keyed by RFC 8291.

The application server encrypts every push message for one user agent
(docs/protocols/webpush.md §4): a fresh ephemeral P-256 key pair and salt per message,
ECDH with the subscription's ``p256dh`` key, HKDF-SHA-256 mixing in the
16-byte ``auth`` secret, AES-128-GCM over ``plaintext || 0x02 || padding``,
and an RFC 8188 header ``salt | rs | idlen=65 | keyid=as_public`` (docs/protocols/webpush.md §4.2).

Speed: encryption runs once per message and subscription, so the hot path is
kept to the unavoidable work: one key generation, one ECDH, five HMAC-SHA-256
calls (HKDF with outputs of at most one block is ``HMAC(PRK, info || 0x01)``,
RFC 5869 §2.3) and one AES-GCM call. Each HMAC is one OpenSSL HMAC context
made, keyed and fed in one C call (CPython's ``_hashlib.hmac_new``, which
:func:`hmac.new` wraps): measured between encryptions of distinct
subscriptions, so with the caches the EC operations leave, that took 3.5
us less per message than the one-shot ``_hashlib.hmac_digest`` (behind
:func:`hmac.digest`, which on OpenSSL 3 looks HMAC and SHA-256 up by name
on every call); HMAC objects whose key pads were hashed once per
subscription and ``cryptography``'s HKDF class were slower still. The user
agent's public key is parsed once per :class:`Recipient` (one per
subscription) and reused, with the start of its RFC 8291 ``key_info``. Of the
~115 us an encryption takes here, the ECDH exchange is about 60, key
generation 15-23, serialising the ephemeral public key 7-8, AES-GCM 2-5:
what is left for Python is the KDF and a few concatenations. The ephemeral key is
*never* reused across messages (RFC 8291 §3.1 requires a new key pair per
message; reusing one would be faster and is done by some services, but it
links messages and weakens the scheme).

The legacy ``aesgcm`` coding (draft-ietf-webpush-encryption-04, docs/protocols/webpush.md §4.3) is in
:mod:`pushgate.crypto.aesgcm`, for the simulator, which accepts it behind a
flag; the client sends ``aes128gcm`` only.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "DEFAULT_RECORD_SIZE",
    "HEADER_SIZE",
    "MAX_PLAINTEXT",
    "ECEError",
    "Recipient",
    "UserAgentKeys",
    "decrypt",
    "decrypt_content",
    "encrypt",
    "encrypt_content",
    "generate_user_agent_keys",
    "load_public_key",
]

_CURVE = ec.SECP256R1()
_ECDH = ec.ECDH()
_X962 = Encoding.X962
_UNCOMPRESSED = PublicFormat.UncompressedPoint
_generate = ec.generate_private_key
TAG_SIZE = 16  # AES-GCM tag (RFC 8188 §2)
SALT_SIZE = 16
AUTH_SECRET_SIZE = 16  # RFC 8291 §3.2
POINT_SIZE = 65  # uncompressed P-256 point
DEFAULT_RECORD_SIZE = 4096
MIN_RECORD_SIZE = 18  # RFC 8188 §2.1: rs below 18 is invalid
HEADER_SIZE = SALT_SIZE + 4 + 1 + POINT_SIZE  # 86 bytes for Web Push (RFC 8291 §4)
# 4096 the service must accept - 86 header - 16 tag - 1 delimiter (docs/protocols/webpush.md §4).
MAX_PLAINTEXT = 4096 - HEADER_SIZE - TAG_SIZE - 1

# HKDF-Expand for a single output block is HMAC(PRK, info || 0x01) (RFC 5869 §2.3).
_WEBPUSH_INFO = b"WebPush: info\x00"  # RFC 8291 §3.4
_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"  # RFC 8188 §2.2
_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"  # RFC 8188 §2.3
_LAST = b"\x02"  # padding delimiter of the last record (RFC 8188 §2)
_DEFAULT_RS_IDLEN = DEFAULT_RECORD_SIZE.to_bytes(4, "big") + b"\x41"  # rs=4096, idlen=65


class ECEError(ValueError):
    """The content coding is malformed, or does not decrypt with these keys."""


class _HMAC(Protocol):
    def digest(self) -> bytes: ...


_hmac_new: Callable[[bytes, bytes, str], _HMAC]
try:  # CPython's C constructor; hmac.new is a Python class around it
    from _hashlib import hmac_new as _hmac_new
except ImportError:  # pragma: no cover - other interpreters
    _hmac_new = hmac.new


def _hmac(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA-256: one OpenSSL HMAC context, keyed and fed in one C call (see above)."""
    return _hmac_new(key, msg, "sha256").digest()


def load_public_key(point: bytes) -> ec.EllipticCurvePublicKey:
    """Parse an uncompressed P-256 point (65 bytes, first byte 0x04)."""
    if len(point) != POINT_SIZE or point[0] != 0x04:
        raise ECEError(f"a P-256 public key is 65 bytes starting 0x04, got {len(point)} bytes")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, point)
    except ValueError as exc:
        raise ECEError("the public key is not a point on P-256") from exc


def _public_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _private_key(value: ec.EllipticCurvePrivateKey | bytes) -> ec.EllipticCurvePrivateKey:
    if isinstance(value, ec.EllipticCurvePrivateKey):
        return value
    if len(value) != 32:
        raise ECEError("a raw P-256 private key is 32 bytes")
    return ec.derive_private_key(int.from_bytes(value, "big"), _CURVE)


def _nonce_for(base: bytes, seq: int) -> bytes:
    """RFC 8188 §2.3: the record sequence number XORed into the nonce's last 8 bytes."""
    if seq == 0:
        return base
    return base[:4] + (int.from_bytes(base[4:], "big") ^ seq).to_bytes(8, "big")


def _cek_and_nonce(salt: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    prk = _hmac(salt, ikm)
    return _hmac(prk, _CEK_INFO)[:16], _hmac(prk, _NONCE_INFO)[:12]


def _webpush_ikm(ecdh_secret: bytes, auth_secret: bytes, ua_public: bytes, as_public: bytes) -> bytes:
    """RFC 8291 §3.3/3.4: IKM = HKDF(auth_secret, ecdh_secret, key_info, 32)."""
    prk_key = _hmac(auth_secret, ecdh_secret)
    return _hmac(prk_key, _WEBPUSH_INFO + ua_public + as_public + b"\x01")


# -- RFC 8188 on its own (any input keying material, any keyid) ---------------------------


def encrypt_content(
    plaintext: bytes,
    ikm: bytes,
    *,
    salt: bytes | None = None,
    keyid: bytes = b"",
    record_size: int = DEFAULT_RECORD_SIZE,
) -> bytes:
    """RFC 8188 ``aes128gcm`` with a shared key, no padding, as many records as needed."""
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    if len(salt) != SALT_SIZE:
        raise ECEError("the salt is 16 bytes")
    if record_size < MIN_RECORD_SIZE or record_size >= 2**32:
        raise ECEError(f"record size {record_size} out of range")
    if len(keyid) > 255:
        raise ECEError("keyid is at most 255 bytes")
    cek, nonce = _cek_and_nonce(salt, ikm)
    aead = AESGCM(cek)
    chunk = record_size - TAG_SIZE - 1
    parts = [salt, record_size.to_bytes(4, "big"), bytes((len(keyid),)), keyid]
    seq = 0
    offset = 0
    while True:
        data = plaintext[offset : offset + chunk]
        offset += chunk
        last = offset >= len(plaintext)
        parts.append(aead.encrypt(_nonce_for(nonce, seq), data + (_LAST if last else b"\x01"), None))
        if last:
            return b"".join(parts)
        seq += 1


def _parse_header(body: bytes) -> tuple[bytes, int, bytes, bytes]:
    if len(body) < SALT_SIZE + 5:
        raise ECEError("body shorter than the aes128gcm header")
    salt = body[:SALT_SIZE]
    rs = int.from_bytes(body[16:20], "big")
    idlen = body[20]
    if len(body) < 21 + idlen:
        raise ECEError("body shorter than its keyid")
    return salt, rs, body[21 : 21 + idlen], body[21 + idlen :]


def _unpad(data: bytes, last: bool) -> bytes:
    end = len(data.rstrip(b"\x00"))
    if end == 0:
        raise ECEError("record has no padding delimiter (all zero)")
    delimiter = data[end - 1]
    if delimiter != (2 if last else 1):
        raise ECEError(
            f"{'last' if last else 'non-last'} record ends with delimiter "
            f"0x{delimiter:02x}, expected 0x0{2 if last else 1}"
        )
    return data[: end - 1]


def _open_record(aead: AESGCM, nonce: bytes, record: bytes) -> bytes:
    if len(record) < TAG_SIZE + 1:
        raise ECEError(f"record of {len(record)} bytes is shorter than tag and delimiter")
    try:
        return aead.decrypt(nonce, record, None)
    except InvalidTag as exc:
        raise ECEError("authentication failed: wrong keys or a corrupted body") from exc


def decrypt_content(body: bytes, ikm: bytes | Callable[[bytes], bytes]) -> bytes:
    """Decrypt RFC 8188 ``aes128gcm``; ``ikm`` may depend on the keyid."""
    salt, rs, keyid, records = _parse_header(body)
    if rs < MIN_RECORD_SIZE:
        raise ECEError(f"record size {rs} is below 18")
    cek, nonce = _cek_and_nonce(salt, ikm(keyid) if callable(ikm) else ikm)
    aead = AESGCM(cek)
    out = []
    count = max(1, -(-len(records) // rs))
    for seq in range(count):
        record = records[seq * rs : (seq + 1) * rs]
        plain = _open_record(aead, _nonce_for(nonce, seq), record)
        out.append(_unpad(plain, seq == count - 1))
    return b"".join(out)


# -- RFC 8291: Web Push ----------------------------------------------------------------


class Recipient:
    """A subscription's encryption keys, parsed once (``p256dh`` and ``auth``).

    Keep one per subscription: parsing and validating the point is a third
    of the cost of an encryption.
    """

    __slots__ = ("_key", "_key_info", "auth_secret", "public_bytes")

    def __init__(self, ua_public: bytes, auth_secret: bytes) -> None:
        if len(auth_secret) != AUTH_SECRET_SIZE:
            raise ECEError(f"the auth secret is 16 bytes, got {len(auth_secret)}")
        self._key = load_public_key(ua_public)
        self.public_bytes = bytes(ua_public)
        self.auth_secret = bytes(auth_secret)
        # RFC 8291 §3.4 key_info up to the sender's key, which each message appends.
        self._key_info = _WEBPUSH_INFO + self.public_bytes

    def __repr__(self) -> str:  # the auth secret is a secret
        return f"Recipient(p256dh={self.public_bytes[:6].hex()}…)"

    def encrypt(
        self,
        plaintext: bytes,
        *,
        salt: bytes | None = None,
        as_private: ec.EllipticCurvePrivateKey | bytes | None = None,
        record_size: int = DEFAULT_RECORD_SIZE,
        padding: int = 0,
    ) -> bytes:
        """One ``aes128gcm`` body: a single record (RFC 8291 §4) for this user agent.

        ``salt`` and ``as_private`` are for test vectors only; by default both
        are fresh for every message, as RFC 8291 §3.1 requires.
        """
        if salt is None:
            salt = os.urandom(SALT_SIZE)
        elif len(salt) != SALT_SIZE:
            raise ECEError("the salt is 16 bytes")
        record_len = len(plaintext) + 1 + padding + TAG_SIZE
        if record_size < MIN_RECORD_SIZE or record_size >= 2**32:
            raise ECEError(f"record size {record_size} out of range")
        if record_len >= record_size:
            raise ECEError(
                f"a {len(plaintext)}-byte message does not fit one record of {record_size} bytes"
            )
        ephemeral = _generate(_CURVE) if as_private is None else _private_key(as_private)
        as_public = ephemeral.public_key().public_bytes(_X962, _UNCOMPRESSED)
        # RFC 8291 §3.3-3.4 and RFC 8188 §2.2-2.3, the five HMACs written out
        # (what _webpush_ikm and _cek_and_nonce do, without two calls and a tuple).
        prk_key = _hmac(self.auth_secret, ephemeral.exchange(_ECDH, self._key))
        prk = _hmac(salt, _hmac(prk_key, self._key_info + as_public + b"\x01"))
        record = plaintext + _LAST + bytes(padding) if padding else plaintext + _LAST
        rs_idlen = _DEFAULT_RS_IDLEN if record_size == DEFAULT_RECORD_SIZE else (
            record_size.to_bytes(4, "big") + b"\x41"
        )
        body = AESGCM(_hmac(prk, _CEK_INFO)[:16]).encrypt(_hmac(prk, _NONCE_INFO)[:12], record, None)
        return b"".join((salt, rs_idlen, as_public, body))


def encrypt(
    plaintext: bytes,
    ua_public: bytes,
    auth_secret: bytes,
    *,
    salt: bytes | None = None,
    as_private: ec.EllipticCurvePrivateKey | bytes | None = None,
    record_size: int = DEFAULT_RECORD_SIZE,
    padding: int = 0,
) -> bytes:
    """Encrypt ``plaintext`` for the user agent with public key ``ua_public`` (RFC 8291).

    For many messages to one subscription keep a :class:`Recipient` instead.
    """
    return Recipient(ua_public, auth_secret).encrypt(
        plaintext, salt=salt, as_private=as_private, record_size=record_size, padding=padding
    )


class UserAgentKeys:
    """The browser side of a subscription: its private key and auth secret."""

    __slots__ = ("auth_secret", "private_key", "public_bytes")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | bytes, auth_secret: bytes) -> None:
        if len(auth_secret) != AUTH_SECRET_SIZE:
            raise ECEError("the auth secret is 16 bytes")
        self.private_key = _private_key(private_key)
        self.public_bytes = _public_bytes(self.private_key)
        self.auth_secret = bytes(auth_secret)

    def __repr__(self) -> str:
        return f"UserAgentKeys(p256dh={self.public_bytes[:6].hex()}…)"

    def recipient(self) -> Recipient:
        return Recipient(self.public_bytes, self.auth_secret)


def generate_user_agent_keys() -> UserAgentKeys:
    """A fresh key pair and auth secret, as a browser makes on ``subscribe()``."""
    return UserAgentKeys(ec.generate_private_key(_CURVE), os.urandom(AUTH_SECRET_SIZE))


def decrypt(
    body: bytes,
    ua_private: UserAgentKeys | ec.EllipticCurvePrivateKey | bytes,
    auth_secret: bytes | None = None,
) -> bytes:
    """Decrypt a Web Push ``aes128gcm`` body as the user agent, checking every
    rule of RFC 8291 §4 (docs/protocols/webpush.md §8): idlen 65, a keyid that is a P-256
    point, one record, ``rs`` of at least 18 and above the record length, and
    a final 0x02 delimiter followed only by zeros.

    :raises ECEError: with the reason.
    """
    if isinstance(ua_private, UserAgentKeys):
        keys = ua_private
    else:
        if auth_secret is None:
            raise ECEError("the auth secret is needed")
        keys = UserAgentKeys(ua_private, auth_secret)
    salt, rs, keyid, record = _parse_header(body)
    if len(keyid) != POINT_SIZE:
        raise ECEError(f"idlen is {len(keyid)}; Web Push needs 65 (the sender's public key)")
    as_key = load_public_key(keyid)
    if rs < MIN_RECORD_SIZE:
        raise ECEError(f"record size {rs} is below 18")
    if len(record) >= rs:
        raise ECEError(
            f"{len(record)} bytes of records with rs={rs}: Web Push needs a single record shorter than rs"
        )
    secret = keys.private_key.exchange(_ECDH, as_key)
    ikm = _webpush_ikm(secret, keys.auth_secret, keys.public_bytes, keyid)
    cek, nonce = _cek_and_nonce(salt, ikm)
    return _unpad(_open_record(AESGCM(cek), nonce, record), last=True)
