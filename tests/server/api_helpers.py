"""Helpers of the API tests: tokens, subscriptions, provider credentials, an API test client."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from pushgate.crypto.vapid import VapidKey
from pushgate.queue import SqlQueue
from pushgate.registry import Database
from pushgate.service.settings import Settings

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def apns_token(i: int) -> str:
    return f"{i:064x}"


def fcm_token(i: int) -> str:
    return f"fcm-registration-token-{i:040d}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def subscription(endpoint: str = "https://updates.push.services.mozilla.com/wpush/v2/abc") -> dict[str, Any]:
    """A browser's PushSubscription.toJSON() with real P-256 keys."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {"endpoint": endpoint, "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}}


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class Secrets:
    """Credentials of each provider, with the secret strings a response must never contain."""

    apns: dict[str, Any]
    fcm: dict[str, Any]
    webpush: dict[str, Any]
    wns: dict[str, Any]

    def for_provider(self, provider: str) -> dict[str, Any]:
        return dict(getattr(self, provider))

    @property
    def secret_texts(self) -> list[str]:
        """A line from inside each private key, the raw VAPID key, the WNS secret."""
        return [
            _key_line(self.apns["key"]),
            _key_line(json.loads(self.fcm["service_account"])["private_key"]),
            self.webpush["vapid_private_key"],
            self.wns["client_secret"],
        ]


def _key_line(pem: str) -> str:
    return pem.strip().splitlines()[2]


@dataclass
class Tenant:
    """An app created through the admin API, and the headers carrying its API key."""

    id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    db: Database
    queue: SqlQueue
    settings: Settings
    enqueued: list[str]

    async def tenant(self, name: str = "shop", **settings: Any) -> Tenant:
        body: dict[str, Any] = {"name": name}
        if settings:
            body["settings"] = settings
        answer = await self.client.post("/v1/apps", json=body, headers=ADMIN)
        assert answer.status_code == 201, answer.text
        return Tenant(answer.json()["app"]["id"], answer.json()["api_key"]["key"])

    async def credentials(self, tenant: Tenant, provider: str, config: dict[str, Any]) -> None:
        answer = await self.client.put(f"/v1/apps/{tenant.id}/credentials/{provider}", json=config,
                                       headers=ADMIN)
        assert answer.status_code == 200, answer.text

    async def device(self, tenant: Tenant, **body: Any) -> dict[str, Any]:
        answer = await self.client.post("/v1/devices", json=body, headers=tenant.headers)
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result




def make_secrets() -> Secrets:
    """Fresh, valid credentials for the four providers (keys generated here, never real ones)."""
    account = {
        "type": "service_account", "project_id": "demo-project", "private_key_id": "k1",
        "private_key": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "client_email": "sender@demo-project.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return Secrets(
        apns={"key": _pem(ec.generate_private_key(ec.SECP256R1())), "key_id": "ABC123DEFG",
              "team_id": "TEAM123456", "topic": "com.example.shop", "environment": "sandbox"},
        fcm={"service_account": json.dumps(account)},
        webpush={"vapid_private_key": VapidKey.generate().private_raw(),
                 "vapid_subject": "mailto:ops@example.com"},
        wns={"client_id": "ms-app://s-1-15-2-123", "client_secret": "wns-client-secret-XYZ-987"},
    )
