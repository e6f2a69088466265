"""What the APNs simulator checks, and the state it checks against.

The rules are docs/protocols/apns.md §2 to §6 as summarised in docs/protocols/apns.md §8; each failure is
a :class:`Reject` carrying the status and ``reason`` APNs would answer with.
Kept apart from the simulator class so the rules read as a list and can be
tested without sockets.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pushgate.simulators._server import SimConnection

Environment = Literal["production", "sandbox"]
KeyEnvironment = Literal["production", "sandbox", "both"]
TokenState = Literal["active", "unregistered", "bad", "wrong_topic", "wrong_env", "expired"]
TOKEN_STATES: Final = frozenset({"active", "unregistered", "bad", "wrong_topic", "wrong_env", "expired"})

PATH_PREFIX: Final = "/3/device/"
_PATH: Final = re.compile(r"/3/device/([0-9a-fA-F]+)")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# docs/protocols/apns.md §2.1: token age and churn rules.
JWT_MAX_AGE: Final = 3600.0
JWT_MIN_INTERVAL: Final = 1200.0
JWT_FUTURE_SKEW: Final = 300.0
COLLAPSE_ID_LIMIT: Final = 64
# The simulator keeps its own copy of APNs' wire limits instead of importing
# the client's: a wrong limit on one side is then caught by the other (a test
# compares the two copies). Apple, "Sending notification requests to APNs":
# payload bytes, 5 KB for VoIP.
PAYLOAD_LIMIT: Final = 4096
VOIP_PAYLOAD_LIMIT: Final = 5120
# Apple, apns-push-type: the apns-topic suffix each push type needs.
TOPIC_SUFFIXES: Final[dict[str, str]] = {
    "alert": "",
    "background": "",
    "location": ".location-query",
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "mdm": "",
    "liveactivity": ".push-type.liveactivity",
    "pushtotalk": ".voip-ptt",
    "widgets": ".push-type.widgets",
    "controls": ".push-type.controls",
}
PUSH_TYPES: Final = frozenset(TOPIC_SUFFIXES)
_SUFFIXES: Final = sorted({s for s in TOPIC_SUFFIXES.values() if s}, key=len, reverse=True)
# Certificate common names Apple issues, and the environments they serve (docs/protocols/apns.md §2.2).
CERT_ENVIRONMENTS: Final[dict[str, KeyEnvironment]] = {
    "Apple Development IOS Push Services": "sandbox",
    "Apple Production IOS Push Services": "production",
    "Apple Push Services": "both",
}


class Reject(Exception):
    """An APNs error answer: ``status`` and ``{"reason": ...}`` (+ ``timestamp`` for 410)."""

    def __init__(self, status: int, reason: str, timestamp: int | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.timestamp = timestamp

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out


@dataclass(slots=True)
class SigningKey:
    """A registered ``.p8`` public key (the simulator never needs the private half)."""

    key_id: str
    team_id: str
    public_key: ec.EllipticCurvePublicKey
    environment: KeyEnvironment = "both"
    # None: a team-scoped key; else topic-scoped (docs/protocols/apns.md §2.1)
    topics: frozenset[str] | None = None


@dataclass(slots=True)
class Team:
    team_id: str
    topics: set[str] = field(default_factory=set)


@dataclass(slots=True)
class DeviceToken:
    token: str
    topic: str | None  # the bundle id it belongs to; None: any app
    environment: Environment | None  # None: whichever environment the simulator runs as
    state: TokenState = "active"
    timestamp_ms: int | None = None  # when it became unregistered


@dataclass(slots=True)
class Credential:
    """Who sent a request: a team (token auth) or a certificate's bundle id."""

    team_id: str | None
    cert_topic: str | None
    key: SigningKey | None = None


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_path(method: str, path: str) -> str:
    """The device token from ``POST /3/device/<hex>`` (405, 400 MissingDeviceToken, 404 BadPath)."""
    if method != "POST":
        raise Reject(405, "MethodNotAllowed")
    if path in (PATH_PREFIX, PATH_PREFIX.rstrip("/")):
        raise Reject(400, "MissingDeviceToken")
    match = _PATH.fullmatch(path)
    if match is None:
        raise Reject(404, "BadPath")
    return match.group(1).lower()


def check_duplicates(headers: list[tuple[str, str]]) -> None:
    names = [name for name, _ in headers]
    if len(names) != len(set(names)):
        raise Reject(400, "DuplicateHeaders")


class JWTVerifier:
    """Verifies provider tokens against registered keys; a JWT verified once is cached.

    The cache matters: clients reuse one token for tens of thousands of
    requests, and an ECDSA verification per request would make the
    simulator, not the client, the bottleneck of every benchmark.
    """

    def __init__(self, keys: dict[str, SigningKey]) -> None:
        self._keys = keys
        self._cache: dict[str, tuple[SigningKey, int]] = {}

    def forget(self) -> None:
        self._cache.clear()

    def verify(self, jwt: str) -> tuple[SigningKey, int]:
        """(key, iat) of a valid token, else 403 InvalidProviderToken."""
        hit = self._cache.get(jwt)
        if hit is not None:
            return hit
        try:
            head_b64, claims_b64, sig_b64 = jwt.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, binascii.Error):
            raise Reject(403, "InvalidProviderToken") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise Reject(403, "InvalidProviderToken")
        key = self._keys.get(str(header.get("kid")))
        iat = claims.get("iat")
        if (
            header.get("alg") != "ES256"
            or key is None
            or claims.get("iss") != key.team_id
            or not isinstance(iat, int)
            or isinstance(iat, bool)
            or len(signature) != 64
        ):
            raise Reject(403, "InvalidProviderToken")
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        der = encode_dss_signature(r, s)
        try:
            key.public_key.verify(der, f"{head_b64}.{claims_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Reject(403, "InvalidProviderToken") from None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[jwt] = (key, iat)
        return key, iat


def check_jwt_time(iat: int, now: float) -> None:
    if now - iat > JWT_MAX_AGE:
        raise Reject(403, "ExpiredProviderToken")
    if iat - now > JWT_FUTURE_SKEW:
        raise Reject(403, "InvalidProviderToken")


def check_connection_token(state: dict[str, Any], jwt: str, key: SigningKey, now: float) -> None:
    """One team and one key scope per connection; a new JWT at most every 20 minutes
    (docs/protocols/apns.md §2.1)."""
    first: SigningKey | None = state.get("key")
    if first is not None and (first.team_id != key.team_id or (first.topics is None) != (key.topics is None)):
        raise Reject(403, "UnrelatedKeyIdInToken")
    current = state.get("jwt")
    if current is not None and current != jwt and now - state["jwt_since"] < JWT_MIN_INTERVAL:
        raise Reject(429, "TooManyProviderTokenUpdates")


def adopt_connection_token(state: dict[str, Any], jwt: str, key: SigningKey, now: float) -> None:
    if state.get("jwt") != jwt:
        state["jwt"] = jwt
        state["jwt_since"] = now
        state["jwt_changes"] = state.get("jwt_changes", -1) + 1
    state.setdefault("key", key)


def cert_identity(peer_cert: dict[str, Any]) -> tuple[str | None, KeyEnvironment]:
    """(bundle id from the subject UID, environment from the common name)."""
    uid: str | None = None
    common = ""
    for rdn in peer_cert.get("subject", ()):
        for name, value in rdn:
            if name == "userId":
                uid = value
            elif name == "commonName":
                common = value
    env: KeyEnvironment = "both"
    for prefix, scope in CERT_ENVIRONMENTS.items():
        if common.startswith(prefix):
            env = scope
            break
    return uid, env


def authenticate(
    conn: SimConnection, headers: dict[str, str], now: float, verifier: JWTVerifier, environment: str
) -> Credential:
    """Who is pushing: the client certificate, else the provider token
    (docs/protocols/apns.md §2.1 and §2.2)."""
    if conn.peer_cert:
        uid, env = cert_identity(conn.peer_cert)
        if uid is None:
            raise Reject(403, "BadCertificate")
        if env not in ("both", environment):
            raise Reject(403, "BadCertificateEnvironment")
        return Credential(None, uid)
    auth = headers.get("authorization")
    if auth is None:
        raise Reject(403, "MissingProviderToken")
    scheme, _, jwt = auth.partition(" ")
    if scheme.lower() != "bearer" or not jwt:
        raise Reject(403, "InvalidProviderToken")
    key, iat = verifier.verify(jwt)
    if key.environment not in ("both", environment):
        raise Reject(403, "BadEnvironmentKeyInToken")
    check_jwt_time(iat, now)
    check_connection_token(conn.state, jwt, key, now)
    adopt_connection_token(conn.state, jwt, key, now)
    return Credential(key.team_id, None, key)


def check_topic(cred: Credential, bundle: str, teams: dict[str, Team]) -> None:
    """The bundle must be the certificate's, or the team's (and the key's, if topic-scoped)."""
    if cred.cert_topic is not None:
        if bundle != cred.cert_topic:
            raise Reject(400, "TopicDisallowed")
        return
    team = teams.get(cred.team_id or "")
    if team is None or bundle not in team.topics:
        raise Reject(400, "TopicDisallowed")
    if cred.key is not None and cred.key.topics is not None and bundle not in cred.key.topics:
        raise Reject(400, "TopicDisallowed")


def check_push_type(value: str | None) -> str:
    if value is None:
        return "alert"  # optional except on watchOS (docs/protocols/apns.md §3.1)
    if value not in PUSH_TYPES:
        raise Reject(400, "InvalidPushType")
    return value


def bundle_of(topic: str, push_type: str) -> str:
    """The bundle id behind ``topic``; its suffix must be the push type's (docs/protocols/apns.md §3.3)."""
    suffix = TOPIC_SUFFIXES[push_type]
    if suffix:
        if not topic.endswith(suffix) or len(topic) == len(suffix):
            raise Reject(400, "BadTopic")
        return topic[: -len(suffix)]
    if push_type != "mdm" and any(topic.endswith(other) for other in _SUFFIXES):
        raise Reject(400, "BadTopic")
    return topic


def check_message_headers(headers: dict[str, str], push_type: str, reject_background_10: bool) -> None:
    """apns-id, apns-expiration, apns-priority and apns-collapse-id, in APNs order."""
    apns_id = headers.get("apns-id")
    if apns_id is not None and not _UUID.fullmatch(apns_id):
        raise Reject(400, "BadMessageId")
    expiration = headers.get("apns-expiration")
    if expiration is not None and not (expiration.isascii() and expiration.isdigit()):
        raise Reject(400, "BadExpirationDate")
    priority = headers.get("apns-priority")
    if priority is not None and priority not in ("1", "5", "10"):
        raise Reject(400, "BadPriority")
    if reject_background_10 and push_type == "background" and priority in (None, "10"):
        raise Reject(400, "BadPriority")  # Apple: background pushes must use 5 (docs/protocols/apns.md §3.3)
    collapse = headers.get("apns-collapse-id")
    if collapse is not None and len(collapse.encode("utf-8")) > COLLAPSE_ID_LIMIT:
        raise Reject(400, "BadCollapseId")


def check_body(body: bytes, push_type: str, not_json_reason: str) -> dict[str, Any]:
    """The parsed payload: 400 PayloadEmpty, 413 PayloadTooLarge, 400 for non-objects
    (docs/protocols/apns.md §4)."""
    if not body:
        raise Reject(400, "PayloadEmpty")
    limit = VOIP_PAYLOAD_LIMIT if push_type == "voip" else PAYLOAD_LIMIT
    if len(body) > limit:
        raise Reject(413, "PayloadTooLarge")
    try:
        payload = json.loads(body)
    except ValueError:
        raise Reject(400, not_json_reason) from None
    if not isinstance(payload, dict):
        raise Reject(400, not_json_reason)
    return payload


def check_device(
    record: DeviceToken | None, token: str, bundle: str, environment: Environment, strict: bool
) -> None:
    """The token's state for this app and environment (docs/protocols/apns.md §8 token state)."""
    if len(token) % 2:
        raise Reject(400, "BadDeviceToken")
    if record is None:
        if strict:
            raise Reject(400, "BadDeviceToken")
        return
    if record.state in ("bad", "wrong_env") or (
        record.environment is not None and record.environment != environment
    ):
        raise Reject(400, "BadDeviceToken")
    if record.state == "wrong_topic" or (record.topic is not None and record.topic != bundle):
        raise Reject(400, "DeviceTokenNotForTopic")
    if record.state == "unregistered":
        raise Reject(410, "Unregistered", record.timestamp_ms)
    if record.state == "expired":
        raise Reject(410, "ExpiredToken")


class BurstLimiter:
    """Per-device pushes in a sliding window: 429 TooManyRequests beyond ``limit``
    (docs/protocols/apns.md §5.2 and §6)."""

    def __init__(self, limit: int | None, window: float) -> None:
        self.limit = limit
        self.window = window
        self.times: dict[str, deque[float]] = {}

    def check(self, token: str, now: float) -> None:
        if self.limit is None:
            return
        times = self.times.setdefault(token, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) >= self.limit:
            raise Reject(429, "TooManyRequests")
        times.append(now)
