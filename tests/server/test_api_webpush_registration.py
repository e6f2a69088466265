"""POST /v1/devices takes the browser's PushSubscription JSON as it is.

The README promises it: the page posts ``subscription.toJSON()`` and the
server registers it, whether bare, as ``token`` with ``provider: webpush``,
or under ``subscription``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.api_helpers import Api, Tenant, subscription
from tests.server.conftest import MakeApi


def _bare(sub: dict[str, Any]) -> dict[str, Any]:
    return {**sub, "expirationTime": None}


@pytest.mark.parametrize("shape", ["bare", "token", "bare-with-user"])
async def test_the_push_subscription_json_registers_a_web_push_device(
    api: Api, shop: Tenant, shape: str
) -> None:
    sub = subscription()
    body: dict[str, Any] = {
        "bare": _bare(sub),
        "token": {"provider": "webpush", "token": _bare(sub), "user": "u1"},
        "bare-with-user": {**_bare(sub), "user": "u1"},
    }[shape]
    answer = await api.client.post("/v1/devices", json=body, headers=shop.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["provider"] == "webpush"
    assert answer.json()["token"] == sub["endpoint"]


async def test_a_subscription_object_as_token_of_another_provider_is_refused(api: Api, shop: Tenant) -> None:
    body = {"provider": "apns", "token": subscription()}
    answer = await api.client.post("/v1/devices", json=body, headers=shop.headers)
    assert answer.status_code == 422, answer.text


async def test_an_added_push_service_does_not_refuse_real_browsers(make_api: MakeApi) -> None:
    api = await make_api(providers={"webpush": {"allowed_hosts": ["push.example.net"]}})
    shop = await api.tenant("shop")
    for endpoint in ("https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bH",
                     "https://push.example.net/wpush/abc"):
        answer = await api.client.post("/v1/devices", json=subscription(endpoint), headers=shop.headers)
        assert answer.status_code == 201, answer.text
    refused = await api.client.post("/v1/devices", json=subscription("https://evil.example/wpush/abc"),
                                    headers=shop.headers)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["field"] == "body.subscription.endpoint"
    assert "'evil.example' is not an allowed push service" in error["message"]
    assert "providers.webpush.allowed_hosts" in error["message"]
