"""The APNs simulator's accounts: teams, their signing keys and certificates, and device tokens.

What a test or the demo sets up before a push (docs/protocols/apns.md §8):
a team's ``.p8`` keys for token auth (optionally scoped to topics or one
environment), client certificates for certificate auth, the bundle ids a
team may push to, and the device tokens with their states. Kept apart from
:mod:`pushgate.simulators.apns`, which serves the HTTP/2 API and only reads
these; each method is also a control route (:mod:`pushgate.simulators._apns_control`).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.simulators import _apns_checks as checks
from pushgate.simulators._apns_checks import (
    TOKEN_STATES,
    DeviceToken,
    Environment,
    JWTVerifier,
    KeyEnvironment,
    SigningKey,
    Team,
    TokenState,
)
from pushgate.simulators.tls import LocalCA

DEFAULT_TOPIC = "com.example.app"
_ID_ALPHABET = string.ascii_uppercase + string.digits


def apple_id() -> str:
    """A 10-character Team ID / Key ID like Apple's."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


class APNsAccounts:
    """A base of :class:`~pushgate.simulators.apns.APNsSimulator`: its accounts and devices.

    The simulator's ``__init__`` creates the state declared here.
    """

    clock: Callable[[], float]
    ca: LocalCA | None
    teams: dict[str, Team]
    keys: dict[str, SigningKey]
    tokens: dict[str, DeviceToken]
    _verifier: JWTVerifier  # caches verified JWTs; forgotten whenever the keys change

    def register_key(
        self,
        team_id: str,
        key_id: str | None = None,
        public_key_pem: str | None = None,
        *,
        environment: KeyEnvironment = "both",
        topics: list[str] | None = None,
        topic_scoped: bool = False,
    ) -> dict[str, str]:
        """Register a ``.p8`` key for a team; without a public key one is made.

        :returns: ``team_id``, ``key_id`` and, for a generated key, the private
            ``key`` PEM a client signs with.
        """
        out: dict[str, str] = {}
        if public_key_pem is None:
            private = ec.generate_private_key(ec.SECP256R1())
            public = private.public_key()
            out["key"] = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
        else:
            loaded = serialization.load_pem_public_key(public_key_pem.encode())
            if not (isinstance(loaded, ec.EllipticCurvePublicKey) and isinstance(loaded.curve, ec.SECP256R1)):
                raise ValueError("APNs keys are EC P-256")
            public = loaded
        if environment not in ("production", "sandbox", "both"):
            raise ValueError("environment is production, sandbox or both")
        key_id = key_id or apple_id()
        team = self.teams.setdefault(team_id, Team(team_id))
        team.topics.update(topics or ())
        scope = frozenset(topics or ()) if topic_scoped else None
        self.keys[key_id] = SigningKey(key_id, team_id, public, environment, scope)
        self._verifier.forget()
        return {"team_id": team_id, "key_id": key_id, **out}

    def register_topics(self, team_id: str, topics: list[str]) -> None:
        """Allow a team to push to these bundle ids."""
        self.teams.setdefault(team_id, Team(team_id)).topics.update(topics)

    def revoke_key(self, key_id: str) -> None:
        self.keys.pop(key_id, None)
        self._verifier.forget()

    def issue_certificate(
        self, topic: str = DEFAULT_TOPIC, environment: KeyEnvironment = "both"
    ) -> dict[str, str]:
        """A client certificate for certificate auth: ``cert`` and ``key`` PEM.

        The common name follows Apple's naming, which is how the simulator
        tells the environments apart: "Apple Development IOS Push Services"
        (sandbox), "Apple Production IOS Push Services" (production) or
        "Apple Push Services" (both).
        """
        if self.ca is None:
            raise ValueError("certificate auth needs TLS")
        prefix = {v: k for k, v in checks.CERT_ENVIRONMENTS.items()}[environment]
        cert, key = self.ca.issue_client_cert(f"{prefix}: {topic}", uid=topic)
        return {"cert": cert.decode(), "key": key.decode(), "topic": topic}

    def add_token(
        self,
        token: str | None = None,
        *,
        topic: str | None = None,
        environment: Environment | None = None,
        state: str = "active",
    ) -> str:
        """Register a device token (a random 32-byte one when ``token`` is None)."""
        if environment not in (None, "production", "sandbox"):
            raise ValueError("environment is production or sandbox")
        token = (token or secrets.token_hex(32)).lower()
        self.tokens[token] = DeviceToken(token, topic, environment)
        if state != "active":
            self.set_token_state(token, state)
        return token

    def set_token_state(self, token: str, state: str, timestamp_ms: int | None = None) -> None:
        """``active``, ``unregistered`` (at ``timestamp_ms``, default now), ``bad``,
        ``wrong_topic``, ``wrong_env`` or ``expired``."""
        if state not in TOKEN_STATES:
            raise ValueError(f"state must be one of {sorted(TOKEN_STATES)}")
        token = token.lower()
        record = self.tokens.get(token)
        if record is None:
            record = self.tokens[token] = DeviceToken(token, None, None)
        record.state = cast(TokenState, state)  # checked against TOKEN_STATES above
        record.timestamp_ms = (
            (timestamp_ms if timestamp_ms is not None else int(self.clock() * 1000))
            if state == "unregistered"
            else None
        )
