"""An app's own provider credentials allow endpoint hosts at registration too.

Web Push and WNS credentials may carry ``allowed_hosts`` and ``base_url``; the
workers' clients call those hosts (workers/clients.py), so a device on them must
be registrable: by POST /v1/devices, by an import and by a login event. They add
to the built-in push services and the server's ``providers.<name>`` settings,
never replace them, and only for the app whose credentials name them.
"""

from __future__ import annotations

from typing import Any

from pushgate.workers.events import decide_batch
from tests.server.api_helpers import Secrets, subscription
from tests.server.conftest import MakeApi

CHROME = "https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bH"
NOW_MS = 1_900_000_000_000


async def test_the_apps_own_allowed_hosts_admit_its_web_push_endpoints(
    make_api: MakeApi, provider_secrets: Secrets
) -> None:
    api = await make_api(providers={"webpush": {"allowed_hosts": ["push.server.example"]}})
    shop, other = await api.tenant("shop"), await api.tenant("other")
    own_hosts = ["push.shop.example", "relay.shop.example:8443"]
    await api.credentials(shop, "webpush", {**provider_secrets.webpush, "allowed_hosts": own_hosts})
    for endpoint in ("https://push.shop.example/wpush/a", "https://relay.shop.example:8443/wpush/b",
                     "https://push.server.example/wpush/c", CHROME):
        answer = await api.client.post("/v1/devices", json=subscription(endpoint), headers=shop.headers)
        assert answer.status_code == 201, (endpoint, answer.text)
    # Another port of an allowed host, and another app without those credentials, stay refused.
    for tenant, endpoint in ((shop, "https://relay.shop.example/wpush/d"),
                             (other, "https://push.shop.example/wpush/e")):
        refused = await api.client.post("/v1/devices", json=subscription(endpoint), headers=tenant.headers)
        assert refused.status_code == 422, refused.text
        message = refused.json()["error"]["message"]
        assert "providers.webpush.allowed_hosts" in message, message
        assert "allowed_hosts of the app's webpush credentials" in message, message


async def test_the_apps_own_base_url_host_admits_its_wns_channels(
    make_api: MakeApi, provider_secrets: Secrets
) -> None:
    api = await make_api(secret_key="s" * 40)  # credentials encrypted at rest: hosts stay readable
    shop = await api.tenant("shop")
    await api.credentials(shop, "wns", {**provider_secrets.wns, "base_url": "https://127.0.0.1:9444"})
    channel = "https://127.0.0.1:9444/?token=own"
    answer = await api.client.post("/v1/devices", json={"provider": "wns", "token": channel},
                                   headers=shop.headers)
    assert answer.status_code == 201, answer.text
    other_port = {"provider": "wns", "token": channel.replace("9444", "9445")}
    refused = await api.client.post("/v1/devices", json=other_port, headers=shop.headers)
    assert refused.status_code == 422, refused.text


async def test_an_import_uses_the_apps_own_hosts(make_api: MakeApi, provider_secrets: Secrets) -> None:
    api = await make_api()
    shop = await api.tenant("shop")
    await api.credentials(shop, "webpush", {**provider_secrets.webpush, "base_url": "https://push.shop.example"})
    rows = [{"subscription": subscription("https://push.shop.example/wpush/a")},
            {"subscription": subscription("https://evil.example/wpush/b")}]
    answer = await api.client.post("/v1/devices/import", json=rows, headers=shop.headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["created"] == 1, result
    assert [e["index"] for e in result["errors"]] == [1]


async def test_a_login_event_uses_the_apps_own_hosts(make_api: MakeApi, provider_secrets: Secrets) -> None:
    api = await make_api()
    shop = await api.tenant("shop")
    await api.credentials(shop, "wns", {**provider_secrets.wns, "allowed_hosts": ["wns.shop.example"]})
    channel = "https://wns.shop.example/?token=login"
    event: dict[str, Any] = {"user_id": "u1", "event_id": 4001, "timestamp": NOW_MS,
                             "params": {"language": "en", "platform": "wns", "token": channel,
                                        "application_version": "3"}}
    answer = await api.client.post("/v1/events", json={"events": [event]}, headers=shop.headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["rejected"] == [], answer.text
    decide_batch(api.db, api.queue, answer.json()["id"], chunk_size=100, max_tries=3)
    devices = (await api.client.get("/v1/users/u1/devices", headers=shop.headers)).json()
    assert [(d["provider"], d["token"]) for d in devices["items"]] == [("wns", channel)]

