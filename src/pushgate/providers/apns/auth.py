"""APNs credentials: the provider-token (JWT) signer and certificate loading.

Token auth (docs/protocols/apns.md §2.1): an ES256 JWT with header
``{"alg":"ES256","kid":<key id>}`` and claims ``{"iss":<team id>,"iat":<now>}``,
signed with the team's ``.p8`` (PKCS#8 EC P-256) key. APNs answers 403
``ExpiredProviderToken`` once ``iat`` is an hour old and 429
``TooManyProviderTokenUpdates`` if a connection sees a new token less than 20
minutes after the previous one, so one token is built per client, reused by
every request on every connection, and rebuilt after ``refresh_interval``
seconds (clamped to [1200, 3300]: never faster than the 20-minute rule,
always well before the hour).

Certificate auth (docs/protocols/apns.md §2.2): the TLS client certificate is the credential; its
subject UID is the app's bundle id, which becomes the default topic.

Secrets never appear in messages or reprs: a key that cannot be loaded is
reported by what is wrong with it, not by its content.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from pushgate.errors import ConfigurationError
from pushgate.transport import HeaderBlock

# docs/protocols/apns.md §2.1: refresh no more often than every 20 minutes, no less than
# every 60; stay clear of the hour by a margin.
MIN_REFRESH: Final = 1200.0
MAX_REFRESH: Final = 3300.0
DEFAULT_REFRESH: Final = 3000.0


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_signing_key(key: str | bytes | Path) -> ec.EllipticCurvePrivateKey:
    """Load an APNs ``.p8`` key: a path, or the PEM text itself (str or bytes).

    :raises ConfigurationError: unreadable, not PEM, or not an EC P-256 key.
    """
    if isinstance(key, Path) or (isinstance(key, str) and "-----BEGIN" not in key):
        try:
            data = Path(key).read_bytes()
        except OSError as exc:
            # a path is shown; anything longer may be key material, so only its size is
            text = str(key)
            shown = repr(text) if len(text) <= 100 and "\n" not in text else f"({len(text)} characters)"
            raise ConfigurationError(
                f"APNs key {shown} is neither a PEM key (-----BEGIN PRIVATE KEY-----) nor a readable "
                f"file: as a path it cannot be read ({exc.strerror}); pass the .p8 file's content "
                "or its path") from exc
    else:
        data = key.encode("utf-8") if isinstance(key, str) else key
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The chained message names the format problem only, never the key.
        raise ConfigurationError(
            "APNs key is not a readable PKCS#8 PEM private key (expected an unencrypted .p8 file)"
        ) from exc
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise ConfigurationError("APNs key must be an EC P-256 key (ES256)")
    return loaded


def sign_es256(key: ec.EllipticCurvePrivateKey, header: dict[str, str], claims: dict[str, object]) -> str:
    """A compact JWS: the ECDSA signature as raw r||s (RFC 7518 §3.4), not DER."""
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    der = key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class TokenSigner:
    """One cached provider token and its pre-encoded ``authorization`` header.

    The send path calls :meth:`header` for every request: it returns the
    cached HPACK bytes and rebuilds them only when the token is older than
    ``refresh_interval``. Rebuilding is synchronous and never awaits, so on
    the event loop it cannot interleave with another rebuild: the check and
    the swap are one atomic step, which is what a lock would buy (an
    ``asyncio.Lock`` only orders code across ``await`` points, and the hot
    path has none). :meth:`expire` is the reaction to 403
    ``ExpiredProviderToken``: it drops the token only if it is still the one
    the failed request carried, so a burst of such answers for one token
    rebuilds it once.
    """

    __slots__ = (
        "_block", "_clock", "_generation", "_iat", "_jwt", "_key", "key_id", "refresh_interval", "team_id",
    )

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        key_id: str,
        team_id: str,
        clock: Callable[[], float],
        refresh_interval: float = DEFAULT_REFRESH,
    ) -> None:
        self._key = key
        self.key_id = key_id
        self.team_id = team_id
        self._clock = clock
        self.refresh_interval = min(max(refresh_interval, MIN_REFRESH), MAX_REFRESH)
        self._iat: int | None = None
        self._generation = 0
        self._jwt = ""
        self._block = HeaderBlock(b"")

    def __repr__(self) -> str:
        return f"TokenSigner(key_id={self.key_id!r}, team_id={self.team_id!r}, iat={self._iat})"

    @property
    def issued_at(self) -> int | None:
        """``iat`` of the current token (``None`` before the first request)."""
        return self._iat

    @property
    def minted(self) -> int:
        """How many tokens this signer has signed (each refresh, and each rebuild after a 403)."""
        return self._generation

    def header(self) -> tuple[HeaderBlock, int]:
        """The encoded ``authorization`` header and the generation number of its token."""
        now = self._clock()
        if self._iat is None or now - self._iat >= self.refresh_interval:
            self._rebuild(int(now))
        return self._block, self._generation

    def token(self) -> str:
        """The current JWT (rebuilt if due), for callers outside the send path."""
        self.header()
        return self._jwt

    def expire(self, generation: int) -> bool:
        """Drop token number ``generation`` if it is still current; True if dropped.

        Generations, not ``iat`` values, name tokens: two tokens built in the
        same second share an ``iat`` but are different strings.
        """
        if self._generation == generation and self._iat is not None:
            self._iat = None
            return True
        return False

    def _rebuild(self, iat: int) -> None:
        jwt = sign_es256(self._key, {"alg": "ES256", "kid": self.key_id}, {"iss": self.team_id, "iat": iat})
        self._block = HeaderBlock.encode([("authorization", "bearer " + jwt)])
        self._jwt = jwt
        self._iat = iat
        self._generation += 1


def certificate_uid(cert_file: str | Path) -> str | None:
    """The subject UID (the bundle id) of the first certificate in a PEM file."""
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"APNs certificate {str(cert_file)!r} cannot be read") from exc
    values = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    return str(values[0].value) if values else None


def load_client_certificate(
    ctx: ssl.SSLContext, cert_file: str | Path, key_file: str | Path | None, password: str | None = None
) -> None:
    """Load the APNs client certificate into ``ctx`` (a PEM with both parts is fine)."""
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file) if key_file is not None else None, password)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            "APNs client certificate or its key cannot be loaded (expected PEM; "
            "give key_file= unless the key is in the certificate file)"
        ) from exc
