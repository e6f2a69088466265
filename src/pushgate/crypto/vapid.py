"""VAPID (RFC 8292): the application server's identity on Web Push requests.

Every push request carries ``Authorization: vapid t=<JWT>, k=<public key>``
(docs/protocols/webpush.md §2). The JWT is ES256 with claims ``aud`` (the push
service's origin), ``exp`` (at most 24 h ahead; pywebpush and we default to
12 h) and ``sub`` (a ``mailto:`` or ``https:`` contact). A JWT is reusable
for its audience until it expires, so the Web Push client's signer
(:class:`pushgate.providers.webpush.auth.Vapid`) signs one per origin and
keeps it. This module is the shared part: keys, ES256 JWTs and their
verification (the simulator verifies what the client signs).

Keys load from PEM (PKCS#8 or SEC1), from the raw 32-byte private scalar as
base64url (what ``web-push generate-vapid-keys`` prints), from base64url DER
(py_vapid's ``from_string``), or are generated.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from pushgate.errors import ConfigurationError

__all__ = [
    "DEFAULT_LIFETIME",
    "MAX_LIFETIME",
    "REFRESH_MARGIN",
    "JWTError",
    "VapidKey",
    "audience_of",
    "b64url_decode",
    "b64url_encode",
    "validate_subject",
    "verify_jwt",
]

MAX_LIFETIME = 24 * 3600  # RFC 8292 §2: exp no more than 24 hours after the request
DEFAULT_LIFETIME = 12 * 3600  # pywebpush's default
REFRESH_MARGIN = 3600  # sign a new JWT when less than this is left
_HEADER = b'{"typ":"JWT","alg":"ES256"}'
_CURVE = ec.SECP256R1()
_ECDSA = ec.ECDSA(hashes.SHA256())


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode base64url or standard base64, padded or not (browsers and
    libraries disagree about both; autopush accepts all four)."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    raw = raw.strip().replace(b"+", b"-").replace(b"/", b"_").rstrip(b"=")
    if len(raw) % 4 == 1:
        raise ValueError("not valid base64: impossible length")
    try:
        return base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not valid base64url: {exc}") from exc


class VapidKey:
    """An application server key pair (P-256).

    ``repr()`` and ``str()`` never show the private key.
    """

    __slots__ = ("_private", "public_bytes")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ConfigurationError("a VAPID key is a P-256 (prime256v1) key")
        self._private = private_key
        self.public_bytes = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @classmethod
    def generate(cls) -> VapidKey:
        return cls(ec.generate_private_key(_CURVE))

    @classmethod
    def load(cls, value: VapidKey | ec.EllipticCurvePrivateKey | str | bytes | Path) -> VapidKey:
        """A key from any of the usual forms: a :class:`VapidKey`, a
        cryptography key, PEM text, a path to a PEM file, the raw private
        scalar as base64url, or base64url DER."""
        if isinstance(value, VapidKey):
            return value
        if isinstance(value, ec.EllipticCurvePrivateKey):
            return cls(value)
        if isinstance(value, Path):
            return cls.from_pem(value.read_bytes())
        data = value.encode("ascii", "replace") if isinstance(value, str) else value
        if b"-----BEGIN" in data:
            return cls.from_pem(data)
        if len(data) == 32 and isinstance(value, bytes):
            return cls.from_raw(data)
        try:
            raw = b64url_decode(data)
        except ValueError as exc:
            raise ConfigurationError("the VAPID private key is neither PEM nor base64url") from exc
        if len(raw) == 32:
            return cls.from_raw(raw)
        try:
            key = serialization.load_der_private_key(raw, password=None)
        except ValueError as exc:
            raise ConfigurationError("the VAPID private key could not be parsed") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError("a VAPID key is an EC P-256 key")
        return cls(key)

    @classmethod
    def from_pem(cls, data: str | bytes) -> VapidKey:
        try:
            key = serialization.load_pem_private_key(
                data.encode() if isinstance(data, str) else data, password=None
            )
        except (ValueError, TypeError) as exc:
            raise ConfigurationError("the VAPID PEM key could not be parsed") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError("a VAPID key is an EC P-256 key")
        return cls(key)

    @classmethod
    def from_raw(cls, scalar: bytes) -> VapidKey:
        try:
            return cls(ec.derive_private_key(int.from_bytes(scalar, "big"), _CURVE))
        except ValueError as exc:
            raise ConfigurationError("the raw VAPID private key is out of range") from exc

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return self._private

    @property
    def application_server_key(self) -> str:
        """The public key as browsers take it (``applicationServerKey``, the ``k=`` value)."""
        return b64url_encode(self.public_bytes)

    def private_raw(self) -> str:
        """The private scalar as base64url (the form ``web-push`` tools print)."""
        return b64url_encode(self._private.private_numbers().private_value.to_bytes(32, "big"))

    def private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign_jwt(self, claims: dict[str, object]) -> str:
        """An ES256 JWS compact token (RFC 7515/7518 §3.4: raw r||s signature)."""
        payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
        signing_input = b64url_encode(_HEADER) + "." + b64url_encode(payload)
        r, s = decode_dss_signature(self._private.sign(signing_input.encode("ascii"), _ECDSA))
        return signing_input + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def __repr__(self) -> str:
        return f"VapidKey(public={self.application_server_key[:12]}…)"


def validate_subject(subject: str) -> str:
    """Check ``sub`` the way the strictest service (Apple) does.

    A ``mailto:`` or ``https:`` URI, no spaces or angle brackets, and not an
    ``https://localhost`` address (docs/protocols/webpush.md §2).
    """
    if not subject.startswith(("mailto:", "https:")):
        raise ConfigurationError("the VAPID subject must be a mailto: or https: URI")
    if re.search(r"[\s<>]", subject):
        raise ConfigurationError("the VAPID subject may not contain spaces or angle brackets")
    if subject.startswith("mailto:") and "@" not in subject:
        raise ConfigurationError("a mailto: VAPID subject needs an e-mail address")
    if subject.startswith("https:"):
        host = (urlsplit(subject).hostname or "").lower()
        if not host or host == "localhost" or host.endswith(".localhost"):
            raise ConfigurationError("an https: VAPID subject must name a public host, not localhost")
    return subject


def audience_of(endpoint: str) -> str:
    """The ``aud`` claim for an endpoint: its origin, ``scheme://host[:port]``."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class JWTError(ValueError):
    """A JWT that does not parse or verify."""


def verify_jwt(token: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, object]:
    """Verify an ES256 JWS compact token and return its claims (the push service's side)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTError("a JWT has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JWTError(f"the JWT does not decode: {exc}") from exc
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise JWTError("the JWT alg must be ES256")
    if not isinstance(claims, dict):
        raise JWTError("the JWT claims are not a JSON object")
    if len(signature) != 64:
        raise JWTError("an ES256 signature is 64 bytes (r||s)")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, (parts[0] + "." + parts[1]).encode("ascii"), _ECDSA)
    except InvalidSignature as exc:
        raise JWTError("the JWT signature does not verify with k") from exc
    return claims
