"""The FCM simulator's OAuth 2.0 token endpoint (docs/protocols/fcm.md §2 and §8).

It plays ``https://oauth2.googleapis.com/token`` for service accounts it
knows: it verifies the RS256 JWT-bearer assertion (RFC 7523) against the
account's registered public key, checks audience, lifetime and scope the way
Google does, and issues opaque access tokens that the send endpoint then
checks (by the injected clock).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pushgate.simulators._server import SimResponse

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Scopes that allow sending (docs/protocols/fcm.md §2): firebase-admin asks for cloud-platform too.
SEND_SCOPES = frozenset({
    "https://www.googleapis.com/auth/firebase.messaging",
    "https://www.googleapis.com/auth/cloud-platform",
})
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 60  # seconds an assertion's iat may lie in the future
ACCESS_TOKEN_LIFETIME = 3599


@dataclass(slots=True)
class SimServiceAccount:
    """One key of one service account, as the simulator knows it."""

    project_id: str
    client_email: str
    key_id: str
    public_key: rsa.RSAPublicKey
    private_key_pem: str | None = field(default=None, repr=False)  # only for accounts it made


@dataclass(slots=True)
class AccessToken:
    project_id: str
    client_email: str
    expires_at: float


def _grant_error(description: str, error: str = "invalid_grant") -> SimResponse:
    return SimResponse.json(400, {"error": error, "error_description": description})


class OAuthEndpoint:
    """Service accounts, the token endpoint, and the access tokens it issued."""

    def __init__(self, clock: Callable[[], float] = time.time, lifetime: int = ACCESS_TOKEN_LIFETIME) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.accounts: dict[str, list[SimServiceAccount]] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.issued = 0

    # -- accounts ---------------------------------------------------------------------

    def create_account(self, project_id: str, name: str = "pushgate-sim") -> SimServiceAccount:
        """A new service account with a fresh 2048-bit RSA key."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        account = SimServiceAccount(
            project_id=project_id,
            client_email=f"{name}@{project_id}.iam.gserviceaccount.com",
            key_id=secrets.token_hex(20),
            public_key=key.public_key(),
            private_key_pem=pem,
        )
        self.add(account)
        return account

    def register(self, info: Mapping[str, Any], project_id: str | None = None) -> SimServiceAccount:
        """Register an account made elsewhere, from its JSON key (``private_key``)
        or from ``public_key`` (PEM) plus ``client_email`` and ``private_key_id``."""
        email = info["client_email"]
        project = project_id or info.get("project_id")
        if not project:
            raise ValueError("project_id is required")
        private_pem = info.get("private_key")
        if private_pem:
            private = serialization.load_pem_private_key(private_pem.encode(), password=None)
            if not isinstance(private, rsa.RSAPrivateKey):
                raise ValueError("private_key is not an RSA key")
            public = private.public_key()
        else:
            loaded = serialization.load_pem_public_key(info["public_key"].encode())
            if not isinstance(loaded, rsa.RSAPublicKey):
                raise ValueError("public_key is not an RSA key")
            public = loaded
        account = SimServiceAccount(
            project, email, info.get("private_key_id") or secrets.token_hex(20), public, private_pem
        )
        self.add(account)
        return account

    def add(self, account: SimServiceAccount) -> None:
        self.accounts.setdefault(account.client_email, []).append(account)

    @staticmethod
    def account_json(account: SimServiceAccount, token_uri: str) -> dict[str, Any]:
        """The service-account JSON key file Google would hand out, ``token_uri`` pointing here."""
        return {
            "type": "service_account",
            "project_id": account.project_id,
            "private_key_id": account.key_id,
            "private_key": account.private_key_pem,
            "client_email": account.client_email,
            "client_id": str(int(account.key_id[:12], 16)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    # -- access tokens ------------------------------------------------------------------

    def lookup(self, token: str) -> AccessToken | None:
        """The token's grant, or None if unknown, revoked or expired."""
        grant = self.tokens.get(token)
        if grant is None:
            return None
        if self.clock() >= grant.expires_at:
            del self.tokens[token]
            return None
        return grant

    def issue(self, project_id: str, client_email: str) -> str:
        token = "ya29.sim-" + secrets.token_urlsafe(48)
        self.tokens[token] = AccessToken(project_id, client_email, self.clock() + self.lifetime)
        self.issued += 1
        return token

    def revoke(self, project_id: str | None = None) -> int:
        """Revoke issued tokens (all, or one project's); sends with them get 401."""
        gone = [t for t, g in self.tokens.items() if project_id is None or g.project_id == project_id]
        for token in gone:
            del self.tokens[token]
        return len(gone)

    # -- the endpoint -------------------------------------------------------------------

    def handle_token(self, method: str, body: bytes, audiences: Iterable[str]) -> SimResponse:
        """``POST /token`` with ``grant_type`` jwt-bearer and an ``assertion``."""
        if method != "POST":
            return SimResponse.json(405, {"error": "invalid_request", "error_description": "POST only"})
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        grant_type = (form.get("grant_type") or [""])[0]
        if grant_type != JWT_BEARER:
            return _grant_error(f"Invalid grant_type: {grant_type}", "unsupported_grant_type")
        assertion = (form.get("assertion") or [""])[0]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _grant_error("Invalid JWT: could not parse the assertion.")
        if header.get("alg") != "RS256":
            return _grant_error("Invalid JWT Signature.")
        accounts = self.accounts.get(str(claims.get("iss", "")), [])
        if not accounts:
            return _grant_error("Invalid grant: account not found")
        kid = header.get("kid")
        candidates = [a for a in accounts if kid is None or a.key_id == kid]
        verified: SimServiceAccount | None = None
        for account in candidates:
            try:
                jwt.decode(
                    assertion,
                    account.public_key,
                    algorithms=["RS256"],
                    options={"verify_aud": False, "verify_exp": False, "verify_iat": False,
                             "verify_nbf": False},
                )
            except jwt.PyJWTError:
                continue
            verified = account
            break
        if verified is None:
            return _grant_error("Invalid JWT Signature.")
        if claims.get("aud") not in set(audiences):
            return _grant_error("Invalid JWT: Failed audience check.")
        iat, exp = claims.get("iat"), claims.get("exp")
        now = self.clock()
        if (
            not isinstance(iat, int | float)
            or not isinstance(exp, int | float)
            or exp - iat > MAX_ASSERTION_LIFETIME
            or iat > now + CLOCK_SKEW
            or exp <= now
        ):
            return _grant_error(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim."
            )
        scopes = set(str(claims.get("scope", "")).split())
        if not scopes & SEND_SCOPES:
            return _grant_error("Invalid OAuth scope or ID token audience provided.", "invalid_scope")
        token = self.issue(verified.project_id, verified.client_email)
        return SimResponse.json(
            200, {"access_token": token, "expires_in": self.lifetime, "token_type": "Bearer"}
        )
