"""What a Web Push service checks on ``POST <endpoint>`` (docs/protocols/webpush.md, §8).

Pure functions over header values and bodies; each failure raises a
:class:`Rejection` carrying the HTTP status, Apple's ``reason`` string and
autopush's ``errno`` (docs/protocols/webpush.md §1.3 and §5), and the simulator renders it in the
mode's body format. VAPID failures raise :class:`VapidRejection`, whose
status depends on the mode (autopush answers 401 for all of them, Apple 403,
RFC 8292 §4.2 401 for a missing and 403 for an invalid one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.crypto import ece
from pushgate.crypto.aesgcm import decrypt_aesgcm
from pushgate.crypto.vapid import JWTError, b64url_decode, verify_jwt

MAX_TTL = 30 * 24 * 3600  # autopush clamps TTL to 30 days (docs/protocols/webpush.md §5)
MAX_VAPID_AHEAD = 24 * 3600  # RFC 8292 §2: exp at most 24 h ahead
URGENCIES = frozenset({"very-low", "low", "normal", "high"})  # RFC 8030 §5.3
_TOPIC = re.compile(r"^[0-9A-Za-z\-_]+=*$")  # autopush's Topic pattern
_INT = re.compile(r"^[+-]?\d+$")

# autopush errno values (autoendpoint; docs/protocols/webpush.md §5)
ERRNO_INVALID_TOKEN = 102
ERRNO_EXPIRED = 103
ERRNO_TOO_LARGE = 104
ERRNO_GONE = 106
ERRNO_VAPID = 109
ERRNO_ENCRYPTION = 110
ERRNO_NO_TTL = 111
ERRNO_TOPIC = 113
ERRNO_NEGATIVE_TTL = 114


class Rejection(Exception):
    """A request the push service refuses."""

    def __init__(self, status: int, reason: str, errno: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.errno = errno
        self.message = message


class VapidRejection(Rejection):
    """A VAPID failure: ``kind`` is ``missing``, ``invalid`` or ``mismatch``."""

    def __init__(self, kind: str, reason: str, message: str) -> None:
        super().__init__(401 if kind == "missing" else 403, reason, ERRNO_VAPID, message)
        self.kind = kind


def parse_ttl(value: str | None, max_ttl: int = MAX_TTL) -> int:
    """RFC 8030 §5.2: required, integer seconds; clamped to the service's maximum."""
    if value is None:
        raise Rejection(400, "BadTtl", ERRNO_NO_TTL, "Missing TTL header")
    value = value.strip()
    if not _INT.match(value):
        raise Rejection(400, "BadTtl", ERRNO_NO_TTL, f"Invalid TTL header: {value!r}")
    ttl = int(value)
    if ttl < 0:
        raise Rejection(400, "BadTtl", ERRNO_NEGATIVE_TTL, "TTL must be zero or more")
    return min(ttl, max_ttl)


def check_urgency(value: str | None) -> str:
    """RFC 8030 §5.3: one of four values; ``normal`` when absent."""
    if value is None:
        return "normal"
    if value.strip() not in URGENCIES:
        raise Rejection(400, "BadUrgency", None, f"Invalid Urgency: {value!r}")
    return value.strip()


def check_topic(value: str | None, *, apple: bool) -> str | None:
    """RFC 8030 §5.4: at most 32 base64url characters. Apple base64-decodes
    the Topic, so a length of 1 mod 4 is also refused there (docs/protocols/webpush.md §1.3)."""
    if value is None:
        return None
    if len(value) > 32 or not _TOPIC.match(value):
        raise Rejection(400, "BadWebPushTopic", ERRNO_TOPIC, "Topic must be at most 32 base64url characters")
    if apple and len(value) % 4 == 1:
        raise Rejection(400, "BadWebPushTopic", ERRNO_TOPIC, "Topic does not base64-decode")
    return value


def header_params(value: str | None) -> dict[str, str]:
    """``a=1;b=2`` or ``a=1, b=2`` parameters (Crypto-Key, Encryption)."""
    params: dict[str, str] = {}
    for part in re.split(r"[;,]", value or ""):
        name, sep, val = part.strip().partition("=")
        if sep:
            params[name.strip().lower()] = val.strip().strip('"')
    return params


@dataclass(slots=True)
class Encoding:
    """The content coding of a request body and its legacy parameters."""

    name: str
    salt: bytes = b""
    dh: bytes = b""
    record_size: int = ece.DEFAULT_RECORD_SIZE


def check_encoding(
    content_encoding: str | None, encryption: str | None, crypto_key: str | None, *, allow_aesgcm: bool
) -> Encoding:
    """RFC 8291 §4 / autopush (docs/protocols/webpush.md §5): ``aes128gcm`` without ``salt``/``dh``;
    ``aesgcm`` (behind a flag) with ``Encryption: salt=`` and ``Crypto-Key: dh=``."""
    name = (content_encoding or "").strip().lower()
    enc = header_params(encryption)
    keys = header_params(crypto_key)
    if name == "aes128gcm":
        if "salt" in enc or "dh" in keys:
            raise Rejection(400, "BadWebPushRequest", ERRNO_ENCRYPTION,
                            "aes128gcm carries its salt and key in the body, not in headers")
        return Encoding(name)
    if name == "aesgcm" and allow_aesgcm:
        try:
            salt = b64url_decode(enc["salt"])
            dh = b64url_decode(keys["dh"])
            rs = int(enc.get("rs", ece.DEFAULT_RECORD_SIZE))
        except (KeyError, ValueError) as exc:
            raise Rejection(400, "BadWebPushRequest", ERRNO_ENCRYPTION,
                            "aesgcm needs Encryption: salt= and Crypto-Key: dh=") from exc
        return Encoding(name, salt, dh, rs)
    if not name:
        raise Rejection(400, "BadWebPushRequest", ERRNO_ENCRYPTION, "Missing Content-Encoding header")
    raise Rejection(400, "BadWebPushRequest", ERRNO_ENCRYPTION, f"Unsupported Content-Encoding: {name}")


def decrypt_body(body: bytes, encoding: Encoding, keys: ece.UserAgentKeys) -> bytes:
    """Decrypt as the browser would; any failure is a 400 (docs/protocols/webpush.md §8)."""
    try:
        if encoding.name == "aes128gcm":
            return ece.decrypt(body, keys)
        return decrypt_aesgcm(
            body, keys, salt=encoding.salt, dh=encoding.dh, record_size=encoding.record_size
        )
    except ece.ECEError as exc:
        raise Rejection(400, "BadWebPushRequest", ERRNO_ENCRYPTION, f"Decryption failed: {exc}") from exc


@dataclass(slots=True)
class VapidAuth:
    """The parsed ``Authorization`` (and legacy ``Crypto-Key``) of a request."""

    scheme: str
    token: str
    key: bytes
    claims: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def parse_authorization(
    authorization: str | None, crypto_key: str | None, *, legacy: bool
) -> VapidAuth | None:
    """``vapid t=<jwt>, k=<key>`` (RFC 8292 §3); with ``legacy`` also the
    draft forms ``WebPush <jwt>`` / ``Bearer <jwt>`` plus ``Crypto-Key: p256ecdsa=``."""
    if authorization is None or not authorization.strip():
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "vapid":
        params = header_params(rest)
        token, key = params.get("t"), params.get("k")
        if not token or not key:
            raise VapidRejection("invalid", "BadJwtToken", "vapid needs both t= and k=")
    elif scheme in ("webpush", "bearer") and legacy:
        token, key = rest.strip(), header_params(crypto_key).get("p256ecdsa")
        if not token or not key:
            raise VapidRejection("invalid", "BadJwtToken", f"{scheme} needs Crypto-Key: p256ecdsa=")
    else:
        raise VapidRejection("invalid", "BadJwtToken", f"unsupported authorization scheme {scheme!r}")
    try:
        raw_key = b64url_decode(key)
        ece.load_public_key(raw_key)
    except (ValueError, ece.ECEError) as exc:
        raise VapidRejection("invalid", "BadVapidPublicKey", f"k is not a P-256 public key: {exc}") from exc
    return VapidAuth(scheme, token, raw_key)


def subject_problem(sub: object) -> str | None:
    """Why ``sub`` would fail Apple's check (docs/protocols/webpush.md §2), or ``None``."""
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
        return "sub must be a mailto: or https: URI"
    if re.search(r"[\s<>]", sub):
        return "sub may not contain spaces or angle brackets"
    if sub.startswith("https:") and re.match(r"^https://(localhost|127\.|\[::1\])", sub):
        return "sub may not be a localhost URL"
    return None


class VapidVerifier:
    """Verifies VAPID JWTs; a signature already checked is not checked again
    (the same JWT arrives on every request for hours), the time rules are."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._verified: dict[tuple[str, bytes], dict[str, Any]] = {}
        self._cache_size = cache_size

    def verify(self, auth: VapidAuth, *, audience: str, now: float, strict_sub: bool) -> VapidAuth:
        cache_key = (auth.token, auth.key)
        claims = self._verified.get(cache_key)
        if claims is None:
            public_key: ec.EllipticCurvePublicKey = ece.load_public_key(auth.key)
            try:
                claims = verify_jwt(auth.token, public_key)
            except JWTError as exc:
                raise VapidRejection("invalid", "BadJwtToken", str(exc)) from exc
            if len(self._verified) >= self._cache_size:
                self._verified.clear()
            self._verified[cache_key] = claims
        auth.claims = claims
        if claims.get("aud") != audience:
            raise VapidRejection("invalid", "BadJwtToken", f"aud must be {audience}")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise VapidRejection("invalid", "BadJwtToken", "exp is required")
        if exp <= now:
            raise VapidRejection("invalid", "BadJwtToken", "the JWT has expired")
        if exp > now + MAX_VAPID_AHEAD:
            raise VapidRejection("invalid", "BadJwtToken", "exp is more than 24 hours ahead")
        problem = subject_problem(claims.get("sub"))
        if problem is not None:
            if strict_sub:
                raise VapidRejection("invalid", "BadJwtToken", problem)
            auth.warnings.append(problem)  # autopush only logs it (docs/protocols/webpush.md §5)
        return auth
