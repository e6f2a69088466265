"""One long-lived provider client per (app, provider), rebuilt when the credentials change."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushgate.crypto.vapid import VapidKey
from pushgate.errors import ConfigurationError
from pushgate.notification import Notification
from pushgate.providers.apns.client import APNs
from pushgate.providers.fcm.client import FCM
from pushgate.providers.webpush.client import WebPush
from pushgate.providers.wns.client import WNS
from pushgate.registry import Database, set_credentials
from pushgate.results import Status
from pushgate.service.settings import Settings
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.webpush import WebPushSimulator
from pushgate.simulators.wns import WNSSimulator
from pushgate.workers.clients import (
    ClientBuildError,
    ClientCache,
    NoCredentials,
    auth_refreshes,
    build_client,
)
from tests.workers.worker_helpers import apns_credentials, make_app, settings_for


async def test_one_client_per_app_and_provider_reused_and_rebuilt_on_new_credentials(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    settings = settings_for(database, apns, ca_file)
    app_id, devices = make_app(database, apns, 1)
    cache = ClientCache(database, settings, concurrency=7, recheck=0.0)
    try:
        first = await cache.acquire(app_id, "apns")
        again = await cache.acquire(app_id, "apns")
        assert again.client is first.client
        assert isinstance(first.client, APNs)
        assert (first.client.concurrency, first.client.max_retries) == (7, 0)  # retries belong to the queue
        assert first.client.base_url == apns.url
        result = await first.client.send_one(Notification(title="hi"), devices[0][1])
        assert result.status is Status.SENT

        with database.session() as session:  # new credentials: a new client on the next acquire
            set_credentials(session, app_id, "apns", {**apns_credentials(apns), "topic": "com.example.app"})
        rebuilt = await cache.acquire(app_id, "apns")
        assert rebuilt.client is not first.client
        assert first.retired
        await cache.release(first)
        await cache.release(again)  # the last user of the old client closes it
        assert list(key for key, _ in cache.clients()) == [(app_id, "apns")]
        await cache.release(rebuilt)
    finally:
        await cache.aclose()


async def test_missing_and_unusable_credentials_are_told_apart(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    settings = settings_for(database, apns, ca_file)
    app_id, _ = make_app(database, None, 0)
    cache = ClientCache(database, settings)
    try:
        with pytest.raises(NoCredentials):
            await cache.acquire(app_id, "apns")
        with database.session() as session:
            set_credentials(session, app_id, "apns", {**apns_credentials(apns), "key": "not a PEM key"})
        with pytest.raises(ClientBuildError) as caught:
            await cache.acquire(app_id, "apns")
        assert caught.value.version is not None
        assert "not a PEM key" not in str(caught.value)
    finally:
        await cache.aclose()


async def test_every_provider_client_builds_from_stored_credentials_and_settings(local_ca: LocalCA) -> None:
    apns, fcm, webpush, wns = (APNsSimulator(ca=local_ca), FCMSimulator(ca=local_ca),
                               WebPushSimulator(ca=local_ca), WNSSimulator(ca=local_ca))
    sims = (apns, fcm, webpush, wns)
    for sim in sims:
        await sim.start()
    try:
        wns_demo = wns.demo_credentials()
        settings = Settings.model_validate({"providers": {
            "apns": {"base_url": apns.url},
            "fcm": {"base_url": fcm.url, "token_url": fcm.url + "/token"},
            "webpush": {"allowed_hosts": ["127.0.0.1:1"]},
            "wns": {"token_url": wns_demo["token_url"]},
        }})
        built = [
            build_client("apns", apns_credentials(apns), settings, concurrency=5),
            build_client("fcm", {"service_account": fcm.demo_credentials()["service_account"]}, settings,
                         concurrency=5),
            build_client("webpush", {"vapid_private_key": webpush.demo_credentials()["vapid_private_key"],
                                     "vapid_subject": "mailto:ops@example.com"}, settings, concurrency=5),
            build_client("wns", {**{k: wns_demo[k] for k in ("client_id", "client_secret")},
                                 "_pause": {"error": "ignored"}}, settings, concurrency=5),
        ]
        assert [type(c) for c in built] == [APNs, FCM, WebPush, WNS]
        assert all(c.max_retries == 0 and c.concurrency == 5 for c in built)
        # The app's own endpoint wins over the settings'.
        custom = build_client("apns", {**apns_credentials(apns), "base_url": "https://push.example.com:9"},
                              settings, concurrency=1)
        assert isinstance(custom, APNs)
        assert custom.base_url == "https://push.example.com:9"
        assert all(auth_refreshes(c) in (None, 0) for c in built)
        for client in [*built, custom]:
            await client.aclose()
    finally:
        for sim in sims:
            await sim.stop()


def test_credentials_missing_a_field_name_it() -> None:
    with pytest.raises(ConfigurationError, match="vapid_subject"):
        build_client("webpush", {"vapid_private_key": "x"}, Settings(), concurrency=1)


async def test_a_providers_request_timeout_setting_reaches_its_client(local_ca: LocalCA) -> None:
    async with WebPushSimulator(ca=local_ca) as webpush:
        credentials = {"vapid_private_key": webpush.demo_credentials()["vapid_private_key"],
                       "vapid_subject": "mailto:ops@example.com"}
    timed = Settings.model_validate({"providers": {"webpush": {"request_timeout": 2.5}}})
    for settings, expected in ((timed, 2.5), (Settings(), 30.0)):
        client = build_client("webpush", credentials, settings, concurrency=1)
        assert isinstance(client, WebPush)
        assert client.request_timeout == expected
        await client.aclose()


WNS_CREDENTIALS = {"client_id": "ms-app://s-1-15-2-1", "client_secret": "secret"}


@pytest.mark.parametrize("where", ["settings", "app"])
async def test_a_wns_base_url_gives_the_token_url_and_the_channel_host(where: str) -> None:
    # The library derives the token endpoint from base_url (README, "Providers"); the server's
    # clients must too, from the settings or from the app's own credentials.
    base = "https://127.0.0.1:9444"
    settings = Settings.model_validate(
        {"providers": {"wns": {"base_url": base}}} if where == "settings" else {})
    credentials = {**WNS_CREDENTIALS, **({"base_url": base} if where == "app" else {})}
    client = build_client("wns", credentials, settings, concurrency=1)
    assert isinstance(client, WNS)
    try:
        assert client.auth.token_url == f"{base}/accesstoken.srf"
        assert client.is_allowed(f"{base}/?token=x")
        assert client.is_allowed("https://db5.notify.windows.com/?token=x")
    finally:
        await client.aclose()
    entra = build_client("wns", {**credentials, "tenant_id": "contoso"}, settings, concurrency=1)
    assert isinstance(entra, WNS)
    try:
        assert entra.auth.token_url.startswith(f"{base}/")
        assert entra.auth.token_url.endswith("/oauth2/v2.0/token")
    finally:
        await entra.aclose()


@pytest.mark.parametrize("where", ["settings", "app"])
async def test_a_web_push_base_url_is_a_push_service_its_client_calls(where: str) -> None:
    base = "https://127.0.0.1:9444"
    settings = Settings.model_validate(
        {"providers": {"webpush": {"base_url": base}}} if where == "settings" else {})
    credentials = {"vapid_private_key": VapidKey.generate().private_raw(),
                   "vapid_subject": "mailto:ops@example.com"}
    if where == "app":
        credentials["base_url"] = base
    client = build_client("webpush", credentials, settings, concurrency=1)
    assert isinstance(client, WebPush)
    try:
        assert client.allowed.allows("127.0.0.1", 9444)
        assert client.allowed.allows("fcm.googleapis.com", 443)
        assert not client.allowed.allows("127.0.0.1", 9445)
    finally:
        await client.aclose()


async def test_the_client_allows_every_host_the_registry_accepts() -> None:
    # The registry accepts the settings' allowed_hosts and base_url host
    # (service/components.py): an app's own allowed_hosts add to them, they do not hide them.
    settings = Settings.model_validate({"providers": {"wns": {
        "base_url": "https://127.0.0.1:9444", "allowed_hosts": ["wns.example.net"],
    }}})
    credentials = {**WNS_CREDENTIALS, "allowed_hosts": ["push.example.org"], "base_url": "https://127.0.0.1:9446"}
    client = build_client("wns", credentials, settings, concurrency=1)
    assert isinstance(client, WNS)
    try:
        for host in ("127.0.0.1:9444", "wns.example.net", "push.example.org", "127.0.0.1:9446"):
            assert client.is_allowed(f"https://{host}/?token=x"), host
        assert client.auth.token_url == "https://127.0.0.1:9446/accesstoken.srf"  # the app's own wins
    finally:
        await client.aclose()
