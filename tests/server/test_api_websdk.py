"""The Web SDK's settings and public registration routes, as a page of the app's site calls them.

Real app, real database (SQLite and PostgreSQL), HTTP through httpx; the
uid signature is the library's helper, as the app's backend computes it.
"""

from __future__ import annotations

from pushgate.crypto.vapid import VapidKey
from pushgate.registry import find_device
from pushgate.registry.websdk import get_web_sdk
from pushgate.uid_signature import signature_for
from tests.server.api_helpers import Api, Tenant, make_secrets
from tests.server.conftest import MakeApi
from tests.server.websdk_helpers import SITE, page_post, setup_sdk, subscription


async def test_settings_show_the_secret_once_and_rotate_it(api: Api, shop: Tenant) -> None:
    first = await setup_sdk(api, shop, origins=("https://Shop.Example.com:443/",))
    assert first.public_id.startswith("pk_")
    assert first.secret.startswith("sk_")
    shown = await api.client.get("/v1/app/websdk", headers=shop.headers)
    assert shown.json() == {"public_id": first.public_id, "allowed_origins": [SITE],
                            "require_uid_signature": False, "secret": None}
    rotated = await api.client.put("/v1/app/websdk", headers=shop.headers, json={"rotate_secret": True})
    assert rotated.json()["secret"] not in (None, first.secret)
    assert rotated.json()["public_id"] == first.public_id
    assert rotated.json()["allowed_origins"] == [SITE]


async def test_an_origin_with_a_path_is_refused_naming_the_field(api: Api, shop: Tenant) -> None:
    answer = await api.client.put("/v1/app/websdk", headers=shop.headers,
                                  json={"allowed_origins": ["https://shop.example.com/app"]})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "body.allowed_origins"


async def test_vapid_key_for_the_app_and_for_its_pages(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    missing = await api.client.get("/v1/app/vapid", headers=shop.headers)
    assert missing.status_code == 404
    webpush = make_secrets().webpush
    await api.credentials(shop, "webpush", webpush)
    expected = VapidKey.load(webpush["vapid_private_key"]).application_server_key
    own = await api.client.get("/v1/app/vapid", headers=shop.headers)
    assert own.json() == {"public_key": expected}
    public = await api.client.get(sdk.path("/vapid"), headers={"Origin": SITE})
    assert public.json() == {"public_key": expected}
    assert public.headers["access-control-allow-origin"] == SITE
    assert (await api.client.get("/v1/app/vapid")).status_code == 401


async def test_only_allowed_origins_may_register(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    body = {"subscription": subscription()}
    for origin in (None, "https://evil.example.net", "null"):
        answer = await page_post(api, sdk, "/subscriptions", body, origin=origin)
        assert answer.status_code == 403, origin
        assert answer.json()["error"]["field"] == "header.origin"
    unknown = await api.client.post("/sdk/v1/apps/pk_nope/subscriptions", json=body,
                                    headers={"Origin": SITE})
    assert unknown.status_code == 404


async def test_a_page_subscribes_reads_retags_and_unsubscribes(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    sub = subscription()
    created = await page_post(api, sdk, "/subscriptions", {"subscription": sub, "tags": ["news"]})
    assert created.status_code == 201, created.text
    assert created.headers["access-control-allow-origin"] == SITE
    assert created.json() == {"subscribed": True, "id": created.json()["id"], "uid": None, "tags": ["news"]}
    again = await page_post(api, sdk, "/subscriptions", {"subscription": sub})
    assert again.status_code == 200
    assert again.json()["tags"] == ["news"]

    endpoint = {"endpoint": sub["endpoint"]}
    retagged = await page_post(api, sdk, "/subscriptions/tags", {**endpoint, "tags": ["news", "sports"]})
    assert retagged.json()["tags"] == ["news", "sports"]
    bad_tags = await page_post(api, sdk, "/subscriptions/tags", {**endpoint, "tags": [" "]})
    assert bad_tags.status_code == 422
    assert bad_tags.json()["error"]["field"] == "body.tags"
    assert bad_tags.headers["access-control-allow-origin"] == SITE  # the page can read why

    assert (await page_post(api, sdk, "/subscriptions/status", endpoint)).json()["subscribed"] is True
    gone = await page_post(api, sdk, "/subscriptions/unsubscribe", endpoint)
    assert gone.json() == {"subscribed": False, "id": None, "uid": None, "tags": []}
    with api.db.session(write=False) as session:
        assert find_device(session, shop.id, sub["endpoint"], "webpush") is None
    assert (await page_post(api, sdk, "/subscriptions/status", endpoint)).json()["subscribed"] is False


async def test_a_uid_needs_its_signature_when_the_app_requires_it(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop, require_uid_signature=True)
    sub = subscription()
    unsigned = await page_post(api, sdk, "/subscriptions", {"subscription": sub, "uid": "alice"})
    assert unsigned.status_code == 403
    assert unsigned.json()["error"] | {"message": ""} == {
        "code": "uid_signature_required", "message": "", "field": "body.uid_signature"}
    forged = await page_post(api, sdk, "/subscriptions", {
        "subscription": sub, "uid": "alice", "uid_signature": signature_for(sdk.secret, "mallory")})
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "uid_signature_invalid"
    with api.db.session(write=False) as session:
        assert find_device(session, shop.id, sub["endpoint"], "webpush") is None  # nothing stored

    signed = await page_post(api, sdk, "/subscriptions", {
        "subscription": sub, "uid": "alice", "uid_signature": signature_for(sdk.secret, "alice").upper()})
    assert signed.status_code == 201
    assert signed.json()["uid"] == "alice"
    anonymous = await page_post(api, sdk, "/subscriptions", {"subscription": subscription()})
    assert anonymous.status_code == 201  # no uid: nothing to sign


async def test_a_wrong_signature_is_refused_even_when_not_required(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop, require_uid_signature=False)
    body = {"subscription": subscription(), "uid": "alice"}
    assert (await page_post(api, sdk, "/subscriptions", body)).status_code == 201
    wrong = await page_post(api, sdk, "/subscriptions", {**body, "uid_signature": "00" * 32})
    assert wrong.status_code == 403


async def test_a_rotated_secret_invalidates_old_signatures(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop, require_uid_signature=True)
    old = signature_for(sdk.secret, "alice")
    await api.client.put("/v1/app/websdk", headers=shop.headers, json={"rotate_secret": True})
    answer = await page_post(api, sdk, "/subscriptions",
                             {"subscription": subscription(), "uid": "alice", "uid_signature": old})
    assert answer.status_code == 403


async def test_an_invalid_subscription_names_the_field_for_the_page(api: Api, shop: Tenant) -> None:
    sdk = await setup_sdk(api, shop)
    sub = subscription(host="attacker.example.net")  # not a push service
    answer = await page_post(api, sdk, "/subscriptions", {"subscription": sub})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"].startswith("body.")
    assert answer.headers["access-control-allow-origin"] == SITE


async def test_the_secret_is_stored_sealed_with_a_secret_key(make_api: MakeApi) -> None:
    api = await make_api(secret_key="k" * 40)
    tenant = await api.tenant("sealed")
    sdk = await setup_sdk(api, tenant, require_uid_signature=True)
    with api.db.session(write=False) as session:
        row = get_web_sdk(session, tenant.id)
        assert row is not None
        assert sdk.secret not in row.secret
    signed = await page_post(api, sdk, "/subscriptions", {
        "subscription": subscription(), "uid": "bob", "uid_signature": signature_for(sdk.secret, "bob")})
    assert signed.status_code == 201


async def test_public_routes_are_rate_limited_per_client_address(make_api: MakeApi) -> None:
    """The routes a page or a device calls without an API key are counted per client address
    (settings.public_rate_limit_per_minute): a flood gets 429 with Retry-After, and the app's
    own API, counted per key, is not touched by it."""
    api = await make_api(public_rate_limit_per_minute=3)
    shop = await api.tenant()
    sdk = await setup_sdk(api, shop)
    answers = [await page_post(api, sdk, "/subscriptions/status", {"endpoint": "https://push.example/x"})
               for _ in range(3)]
    assert all(a.status_code != 429 for a in answers)
    assert answers[-1].headers["RateLimit-Remaining"] == "0"
    refused = await api.client.get(sdk.path("/vapid"), headers={"Origin": SITE})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["access-control-allow-origin"] == SITE  # the page can read why
    reports = await api.client.post("/sdk/v1/events", headers={"Origin": SITE}, json={
        "events": [{"send": "00000000-0000-0000-0000-000000000000", "event": "displayed",
                    "endpoint": "https://push.example/x"}]})
    assert reports.status_code == 429
    me = await api.client.get(sdk.me("/devices"), headers={"Authorization": "Bearer not-a-token"})
    assert me.status_code == 429
    assert (await api.client.get("/v1/app/websdk", headers=shop.headers)).status_code == 200
