"""Helpers of the Web SDK tests: set an app's SDK up through the API, call the public routes as a page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tests.server.api_helpers import Api, Tenant
from tests.server.api_helpers import subscription as _subscription

SITE = "https://shop.example.com"


@dataclass(frozen=True)
class Sdk:
    """An app's Web SDK settings as ``PUT /v1/app/websdk`` answered them."""

    public_id: str
    secret: str

    def path(self, tail: str) -> str:
        """A browser route of the app (the SDK's)."""
        return f"/sdk/v1/apps/{self.public_id}{tail}"

    def me(self, tail: str) -> str:
        """A device route of the app (with a user token)."""
        return f"/v1/public/apps/{self.public_id}/me{tail}"


async def setup_sdk(api: Api, tenant: Tenant, *, origins: tuple[str, ...] = (SITE,),
                    require_uid_signature: bool = False) -> Sdk:
    answer = await api.client.put("/v1/app/websdk", headers=tenant.headers, json={
        "allowed_origins": list(origins), "require_uid_signature": require_uid_signature})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return Sdk(body["public_id"], body["secret"])


async def page_post(api: Api, sdk: Sdk, tail: str, body: dict[str, Any], origin: str | None = SITE) -> Any:
    """POST as pushgate.js does: JSON sent as text/plain (a CORS simple request), from ``origin``."""
    import json

    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    if origin is not None:
        headers["Origin"] = origin
    return await api.client.post(sdk.path(tail), content=json.dumps(body), headers=headers)


def subscription(host: str = "updates.push.services.mozilla.com") -> dict[str, Any]:
    """A browser's subscription with an endpoint of its own (real P-256 keys)."""
    return _subscription(f"https://{host}/wpush/v2/{secrets.token_urlsafe(16)}")
