"""Admin API: apps, keys shown once, credentials validated per provider and never shown back."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import sqlalchemy as sa

from pushgate.registry import CredentialCipher, get_credentials, list_api_keys
from pushgate.registry.credential_cipher import SEALED_PREFIX
from pushgate.registry.pauses import pause_provider
from tests.server.api_helpers import ADMIN, Api, Secrets, Tenant


def assert_no_secret(answer: httpx.Response, secrets: Secrets) -> None:
    for text in secrets.secret_texts:
        assert text not in answer.text, answer.request.url


async def test_create_app_shows_the_key_once(api: Api) -> None:
    body = {"name": "shop", "settings": {"max_devices_per_user": 3}}
    created = await api.client.post("/v1/apps", json=body, headers=ADMIN)
    assert created.status_code == 201
    body = created.json()
    key = body["api_key"]["key"]
    assert key.startswith(f"pg_{body['api_key']['prefix']}_")
    assert body["app"]["settings"] == {"max_devices_per_user": 3}
    with api.db.session(write=False) as session:
        [row] = list_api_keys(session, body["app"]["id"])
        assert key not in repr(row)
        assert row.key_hash != key
    for url in ("/v1/apps", f"/v1/apps/{body['app']['id']}", f"/v1/apps/{body['app']['id']}/keys"):
        answer = await api.client.get(url, headers=ADMIN)
        assert answer.status_code == 200
        assert key not in answer.text
        assert key.split("_", 2)[2] not in answer.text  # the secret part (base64url: it may hold "_")

    duplicate = await api.client.post("/v1/apps", json={"name": "shop"}, headers=ADMIN)
    assert (duplicate.status_code, duplicate.json()["error"]["field"]) == (422, "body.name")
    unknown = await api.client.post("/v1/apps", json={"name": "x", "settings": {"colour": 1}}, headers=ADMIN)
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "body.settings.colour")

    patched = await api.client.patch(f"/v1/apps/{body['app']['id']}", json={"max_devices_per_user": 5},
                                     headers=ADMIN)
    assert patched.json()["settings"] == {"max_devices_per_user": 5}
    assert (await api.client.delete(f"/v1/apps/{body['app']['id']}", headers=ADMIN)).status_code == 204
    assert (await api.client.get(f"/v1/apps/{body['app']['id']}", headers=ADMIN)).status_code == 404
    assert (await api.client.get("/v1/devices", headers={"X-API-Key": key})).status_code == 401


async def _put_every_provider(api: Api, shop: Tenant, provider_secrets: Secrets) -> list[httpx.Response]:
    """PUT credentials for the four providers; the answers, in that order (APNs, FCM, Web Push, WNS)."""
    answers = []
    for provider in ("apns", "fcm", "webpush", "wns"):
        answer = await api.client.put(f"/v1/apps/{shop.id}/credentials/{provider}",
                                      json=provider_secrets.for_provider(provider), headers=ADMIN)
        assert answer.status_code == 200, answer.text
        answers.append(answer)
    return answers


async def test_credentials_are_stored_and_never_shown(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    answers = await _put_every_provider(api, shop, provider_secrets)
    shown = answers[0].json()["config"]
    assert (shown["key"], shown["key_id"], shown["topic"]) == ("***", "ABC123DEFG", "com.example.shop")
    assert answers[1].json()["config"]["service_account"]["private_key"] == "***"
    assert answers[1].json()["config"]["service_account"]["client_email"].startswith("sender@")
    assert answers[3].json()["config"]["client_secret"] == "***"
    for url in (f"/v1/apps/{shop.id}/credentials", f"/v1/apps/{shop.id}/credentials/fcm",
                f"/v1/apps/{shop.id}", "/v1/apps"):
        answers.append(await api.client.get(url, headers=ADMIN))
    answers.append(await api.client.get("/v1/app", headers=shop.headers))
    for answer in answers:
        assert answer.status_code == 200
        assert_no_secret(answer, provider_secrets)
    assert (await api.client.get("/v1/app", headers=shop.headers)).json()["providers"] == [
        "apns", "fcm", "webpush", "wns"
    ]
    # Stored in full for the workers.
    with api.db.session(write=False) as session:
        row = get_credentials(session, shop.id, "apns")
        assert row is not None
        assert row.config["key"] == provider_secrets.apns["key"]
        assert provider_secrets.apns["key"] not in repr(row)

    assert (await api.client.delete(f"/v1/apps/{shop.id}/credentials/wns", headers=ADMIN)).status_code == 204
    assert (await api.client.get(f"/v1/apps/{shop.id}/credentials/wns", headers=ADMIN)).status_code == 404


async def test_bad_credentials_are_refused_naming_the_field(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    apns, fcm = provider_secrets.apns, provider_secrets.fcm
    account = json.loads(fcm["service_account"])
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("apns", {**apns, "key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"}, "body.key"),
        ("apns", {**apns, "key": "/etc/passwd"}, "body.key"),
        ("apns", {k: v for k, v in apns.items() if k != "team_id"}, "body.team_id"),
        ("apns", {k: v for k, v in apns.items() if k != "topic"}, "body.topic"),
        ("apns", {**apns, "environment": "staging"}, "body.environment"),
        ("apns", {**apns, "base_url": "not a url"}, "body.base_url"),
        ("fcm", {"service_account": "{not json"}, "body.service_account"),
        ("fcm", {"service_account": {**account, "private_key": apns["key"]}},
         "body.service_account.private_key"),
        ("fcm", {"service_account": {k: v for k, v in account.items() if k != "client_email"}},
         "body.service_account.client_email"),
        ("webpush", {**provider_secrets.webpush, "vapid_subject": "https://localhost"}, "body.vapid_subject"),
        ("webpush", {**provider_secrets.webpush, "vapid_private_key": "c2hvcnQ"}, "body.vapid_private_key"),
        ("wns", {"client_id": "x"}, "body.client_secret"),
        ("wns", {**provider_secrets.wns, "_pause": {}}, "body._pause"),
    ]
    for provider, config, field in cases:
        url = f"/v1/apps/{shop.id}/credentials/{provider}"
        answer = await api.client.put(url, json=config, headers=ADMIN)
        assert answer.status_code == 422, (provider, field, answer.text)
        assert answer.json()["error"]["field"] == field, (provider, answer.json())
        assert_no_secret(answer, provider_secrets)
    fax = await api.client.put(f"/v1/apps/{shop.id}/credentials/fax", json={}, headers=ADMIN)
    assert (fax.status_code, fax.json()["error"]["field"]) == (422, "path.provider")
    with api.db.session(write=False) as session:
        assert get_credentials(session, shop.id, "apns") is None


async def test_a_credential_pause_shows_on_the_app_and_new_credentials_end_it(
    api: Api, shop: Tenant, provider_secrets: Secrets
) -> None:
    await api.credentials(shop, "apns", provider_secrets.apns)
    with api.db.session() as session:
        row = get_credentials(session, shop.id, "apns")
        assert row is not None
        pause_provider(session, shop.id, "apns", "InvalidProviderToken", version=row.updated_at,
                       now=time.time())
    states = {p["provider"]: p for p in (await api.client.get("/v1/app", headers=shop.headers)).json()[
        "provider_states"]}
    assert states["apns"]["paused"] is True
    assert states["apns"]["error"] == "InvalidProviderToken"
    assert states["apns"]["paused_until"] is not None
    assert states["fcm"]["paused"] is False
    shown = (await api.client.get(f"/v1/apps/{shop.id}/credentials/apns", headers=ADMIN)).json()
    assert "_pause" not in shown["config"]

    await api.credentials(shop, "apns", provider_secrets.apns)  # fixed credentials
    states = {p["provider"]: p for p in (await api.client.get("/v1/app", headers=shop.headers)).json()[
        "provider_states"]}
    assert (states["apns"]["paused"], states["apns"]["error"]) == (False, None)


async def test_with_a_secret_key_credentials_are_stored_encrypted_and_shown_as_before(
    make_api: Any, provider_secrets: Secrets
) -> None:
    key = "api-test-secret-key-" + "s" * 20
    api = await make_api(secret_key=key)
    shop = await api.tenant("shop")
    answers = await _put_every_provider(api, shop, provider_secrets)
    answers.append(await api.client.get(f"/v1/apps/{shop.id}/credentials", headers=ADMIN))
    answers.append(await api.client.get(f"/v1/apps/{shop.id}/credentials/fcm", headers=ADMIN))
    for answer in answers:
        assert_no_secret(answer, provider_secrets)
        assert SEALED_PREFIX not in answer.text  # masked, not shown encrypted either
    apns = answers[0].json()["config"]
    assert (apns["key"], apns["key_id"], apns["topic"]) == ("***", "ABC123DEFG", "com.example.shop")
    assert answers[1].json()["config"]["service_account"]["private_key"] == "***"

    with api.db.connect(write=False) as connection:
        rows = connection.execute(sa.text("SELECT config FROM credentials")).scalars().all()
    backup = " ".join(row if isinstance(row, str) else json.dumps(row) for row in rows)
    for text in provider_secrets.secret_texts:
        assert text not in backup
    assert "com.example.shop" in backup
    assert "ms-app://s-1-15-2-123" in backup
    with api.db.session(write=False) as session:
        row = get_credentials(session, shop.id, "apns", cipher=CredentialCipher(key))
        assert row is not None
        assert row.config["key"] == provider_secrets.apns["key"]


async def test_credentials_this_secret_key_cannot_decrypt_are_said_to_be_unreadable(
    make_api: Any, provider_secrets: Secrets
) -> None:
    stored_with, other = "stored-with-this-key-" + "s" * 20, "some-other-secret-key-" + "o" * 20
    first = await make_api(secret_key=stored_with)
    shop = await first.tenant("shop")
    await first.credentials(shop, "wns", provider_secrets.wns)
    readable = await first.client.get(f"/v1/apps/{shop.id}/credentials", headers=ADMIN)
    assert [row["unreadable"] for row in readable.json()] == [None]

    for key, reason in ((other, "neither secret_key nor previous_secret_keys opens them"),
                        (None, "encrypted, and no secret_key is set")):
        api = await make_api(secret_key=key)
        await api.credentials(shop, "apns", provider_secrets.apns)  # stored with this key: readable
        # The words the workers use when they cannot build the client (CredentialsUnreadable).
        said = f"the wns credentials of app {shop.id} cannot be decrypted (client_secret): {reason}"
        listed = (await api.client.get(f"/v1/apps/{shop.id}/credentials", headers=ADMIN)).json()
        by_provider = {row["provider"]: row for row in listed}
        assert by_provider["apns"]["unreadable"] is None
        assert by_provider["wns"]["unreadable"].startswith(said), by_provider["wns"]
        assert by_provider["wns"]["config"]["client_secret"] == "***"  # still listed, as before
        one = (await api.client.get(f"/v1/apps/{shop.id}/credentials/wns", headers=ADMIN)).json()
        assert one["unreadable"].startswith(said)
        for url, headers in ((f"/v1/apps/{shop.id}", ADMIN), ("/v1/app", shop.headers)):
            states = {p["provider"]: p for p in (await api.client.get(url, headers=headers)).json()[
                "provider_states"]}
            assert states["wns"]["unreadable"].startswith(said), states
            assert (states["apns"]["unreadable"], states["fcm"]["unreadable"]) == (None, None)
        assert_no_secret(await api.client.get(f"/v1/apps/{shop.id}/credentials", headers=ADMIN),
                         provider_secrets)
        # The list of apps says which have credentials this server cannot use, and why.
        apps = {app["id"]: app for app in (await api.client.get("/v1/apps", headers=ADMIN)).json()}
        assert list(apps[shop.id]["unreadable_credentials"]) == ["wns"]
        assert apps[shop.id]["unreadable_credentials"]["wns"].startswith(said)

    schema = (await first.client.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("CredentialsOut", "ProviderState"):
        assert "unreadable" in schema[model]["properties"], model
    assert "unreadable_credentials" in schema["AppOut"]["properties"]
    listed = (await first.client.get("/v1/apps", headers=ADMIN)).json()
    assert [app["unreadable_credentials"] for app in listed] == [{}]


async def test_a_google_service_info_plist_as_fcm_credentials_is_named(api: Api, shop: Tenant) -> None:
    from tests.providers.fcm.test_fcm_credentials import GOOGLE_SERVICE_INFO

    answer = await api.client.put(f"/v1/apps/{shop.id}/credentials/fcm",
                                  json={"service_account": GOOGLE_SERVICE_INFO}, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == "body.service_account"
    assert error["message"].startswith(
        "this is GoogleService-Info.plist, the iOS app's Firebase config: "
        'FCM HTTP v1 needs a service-account key JSON (type "service_account")')
