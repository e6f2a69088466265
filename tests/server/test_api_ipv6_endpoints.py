"""IPv6 endpoint hosts at registration: ``[::1]:8443`` in an endpoint matches the entries
``[::1]:8443``, ``::1`` and ``[::1]`` (port 443) mean, in the settings as in an app's credentials.

An entry the allow-list cannot read is refused where it is given (a credentials PUT,
the settings), not skipped when a device registers.
"""

from __future__ import annotations

import pydantic
import pytest

from pushgate.service.settings import Settings
from tests.server.api_helpers import ADMIN, Secrets, subscription
from tests.server.conftest import MakeApi


async def test_ipv6_endpoints_register_on_the_hosts_the_settings_allow(make_api: MakeApi) -> None:
    api = await make_api(providers={
        "webpush": {"allowed_hosts": ["[::1]:8443", "::2", "[2001:DB8::7]"]},
        "wns": {"base_url": "https://[::1]:9444"},
    })
    shop = await api.tenant("shop")
    for endpoint in ("https://[::1]:8443/push/abc", "https://[::2]/push/b", "https://[2001:db8:0::7]/push/c"):
        answer = await api.client.post("/v1/devices", json=subscription(endpoint), headers=shop.headers)
        assert answer.status_code == 201, (endpoint, answer.text)
    channel = await api.client.post("/v1/devices", json={"provider": "wns", "token": "https://[::1]:9444/?t=1"},
                                    headers=shop.headers)
    assert channel.status_code == 201, channel.text
    for endpoint in ("https://[::1]/push/d", "https://[::1]:8444/push/e", "https://[::3]/push/f"):
        refused = await api.client.post("/v1/devices", json=subscription(endpoint), headers=shop.headers)
        assert refused.status_code == 422, (endpoint, refused.text)
        assert "providers.webpush.allowed_hosts" in refused.json()["error"]["message"]


async def test_an_apps_own_ipv6_hosts_admit_its_endpoints(
    make_api: MakeApi, provider_secrets: Secrets
) -> None:
    api = await make_api()
    shop = await api.tenant("shop")
    own = ["::1", "[::5]:8443"]
    await api.credentials(shop, "webpush", {**provider_secrets.webpush, "allowed_hosts": own})
    for endpoint in ("https://[::1]/push/a", "https://[::5]:8443/push/b"):
        answer = await api.client.post("/v1/devices", json=subscription(endpoint), headers=shop.headers)
        assert answer.status_code == 201, (endpoint, answer.text)


@pytest.mark.parametrize("entry", ["[::1", "::g", "*.::1", "https://push.example/", "push.example:http"])
async def test_an_unreadable_entry_is_refused_when_credentials_are_stored(
    make_api: MakeApi, provider_secrets: Secrets, entry: str
) -> None:
    api = await make_api()
    shop = await api.tenant("shop")
    config = {**provider_secrets.webpush, "allowed_hosts": ["push.example", entry]}
    answer = await api.client.put(f"/v1/apps/{shop.id}/credentials/webpush", json=config, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == "body.allowed_hosts", error
    assert "entry 2" in error["message"], error


@pytest.mark.parametrize("entry", ["[::1", "::g", "*.::1", "https://push.example/"])
def test_an_unreadable_entry_is_refused_in_the_settings(entry: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="allowed_hosts"):
        Settings.model_validate({"providers": {"wns": {"allowed_hosts": ["push.example", entry]}}})


@pytest.mark.parametrize("base_url", ["https://[::1", "https://[::1]:port"])
async def test_an_unreadable_base_url_is_a_422_not_a_crash(
    make_api: MakeApi, provider_secrets: Secrets, base_url: str
) -> None:
    api = await make_api()
    shop = await api.tenant("shop")
    config = {**provider_secrets.wns, "base_url": base_url}
    answer = await api.client.put(f"/v1/apps/{shop.id}/credentials/wns", json=config, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "body.base_url"


@pytest.mark.parametrize("base_url", ["https://[::1", "https://[::1]:port", "push.example.net"])
def test_an_unreadable_base_url_is_refused_in_the_settings(base_url: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="base_url"):
        Settings.model_validate({"providers": {"webpush": {"base_url": base_url}}})
