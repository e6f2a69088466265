"""Apps, credentials (uploads, fingerprints, VAPID, health) and API keys, and the overview."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

from pushgate.registry import authenticate, get_stored_credentials, list_api_keys
from pushgate.registry.pauses import pause_provider
from tests.admin.admin_certs import certificate_pem
from tests.admin.conftest import AdminUi
from tests.server.api_helpers import make_secrets


async def test_a_superuser_creates_an_app_and_sees_its_key_once(ui: AdminUi) -> None:
    browser = await ui.signed_in("root", superuser=True)
    created = await browser.post("/admin/apps", {"name": "shop"})
    assert created.status_code == 201
    key = re.search(r'id="new-app-key">([^<]+)<', created.text)
    assert key is not None
    with ui.db.session(write=False) as session:
        assert authenticate(session, key.group(1)) is not None
    listing = await browser.get("/admin/apps")
    assert "shop" in listing.text
    assert key.group(1) not in listing.text
    again = await browser.post("/admin/apps", {"name": "shop"})
    assert again.status_code == 422
    assert "name:" in again.text


async def test_key_files_are_uploaded_and_secrets_shown_as_fingerprints(
    ui: AdminUi, shop: tuple[int, str]
) -> None:
    app_id = shop[0]
    secrets = make_secrets()
    browser = await ui.signed_in("root", superuser=True)
    p8 = secrets.apns["key"]
    stored = await browser.post(
        f"/admin/apps/{app_id}/credentials/apns",
        {"key_id": "ABC123DEFG", "team_id": "TEAM123456", "topic": "com.example.shop"},
        files={"key_file": ("AuthKey_ABC123DEFG.p8", p8.encode(), "application/octet-stream")},
    )
    assert stored.status_code == 303, stored.text
    account = secrets.fcm["service_account"]
    fcm = await browser.post(
        f"/admin/apps/{app_id}/credentials/fcm",
        files={"key_file": ("service-account.json", account.encode(), "application/json")},
    )
    assert fcm.status_code == 303, fcm.text
    page = await browser.get(f"/admin/apps/{app_id}")
    for secret in (p8.strip().splitlines()[1], json.loads(account)["private_key"].strip().splitlines()[1]):
        assert secret not in page.text
    assert page.text.count("sha256:") >= 2
    assert "ABC123DEFG" in page.text
    assert "demo-project" in page.text
    with ui.db.session(write=False) as session:
        row = get_stored_credentials(session, app_id, "apns")
        assert row is not None
        assert p8 not in json.dumps(row.config)


async def test_bad_credentials_are_refused_naming_the_field(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    browser = await ui.signed_in("root", superuser=True)
    answer = await browser.post(
        f"/admin/apps/{app_id}/credentials/apns",
        {"topic": "com.example.shop"},
        files={"key_file": ("AuthKey.p8", b"not a key", "application/octet-stream")},
    )
    assert answer.status_code == 422
    assert re.search(r'id="error-apns">key: ', answer.text)
    nothing = await browser.post(f"/admin/apps/{app_id}/credentials/wns", {})
    assert nothing.status_code == 422
    assert "give a key file or the fields" in nothing.text


async def test_generated_vapid_keys_show_the_public_key(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id = shop[0]
    browser = await ui.signed_in("root", superuser=True)
    answer = await browser.post(f"/admin/apps/{app_id}/vapid", {"vapid_subject": "mailto:ops@example.com"})
    assert answer.status_code == 303
    page = await browser.get(f"/admin/apps/{app_id}")
    public = re.search(r'id="vapid-public-key">([A-Za-z0-9_-]+)<', page.text)
    assert public is not None
    assert len(public.group(1)) == 87
    bad = await browser.post(f"/admin/apps/{app_id}/vapid", {"vapid_subject": "ops@example.com"})
    assert bad.status_code == 422
    assert "vapid_subject" in bad.text


async def test_api_keys_are_created_rotated_and_revoked(ui: AdminUi, shop: tuple[int, str]) -> None:
    app_id, first_key = shop
    browser = await ui.signed_in("root", superuser=True)
    created = await browser.post(f"/admin/apps/{app_id}/keys", {"name": "ci"})
    new_key = re.search(r'id="new-key-value">([^<]+)<', created.text)
    assert new_key is not None
    with ui.db.session(write=False) as session:
        first_id = next(k.id for k in list_api_keys(session, app_id) if k.name == "default")
    rotated = await browser.post(f"/admin/apps/{app_id}/keys/{first_id}/rotate")
    replacement = re.search(r'id="new-key-value">([^<]+)<', rotated.text)
    assert rotated.status_code == 201
    assert replacement is not None
    with ui.db.session(write=False) as session:
        assert authenticate(session, first_key) is None
        assert authenticate(session, replacement.group(1)) == app_id
    with ui.db.session(write=False) as session:
        ci_id = next(k.id for k in list_api_keys(session, app_id) if k.name == "ci")
    revoked = await browser.post(f"/admin/apps/{app_id}/keys/{ci_id}/revoke")
    assert revoked.status_code == 303
    with ui.db.session(write=False) as session:
        assert authenticate(session, new_key.group(1)) is None
    twice = await browser.post(f"/admin/apps/{app_id}/keys/{ci_id}/revoke")
    assert twice.status_code == 404
    # The API agrees: the revoked key is refused.
    refused = await browser.client.get("/v1/app", headers={"Authorization": f"Bearer {new_key.group(1)}"})
    assert refused.status_code == 401


async def test_health_and_overview_show_pauses_and_expiring_certificates(
    ui: AdminUi, shop: tuple[int, str]
) -> None:
    app_id = shop[0]
    browser = await ui.signed_in("root", superuser=True)
    pem = certificate_pem(timedelta(days=10))
    stored = await browser.post(
        f"/admin/apps/{app_id}/credentials/apns",
        {"topic": "com.example.shop"},
        files={"key_file": ("push.pem", pem.encode(), "application/x-pem-file")},
    )
    assert stored.status_code == 303, stored.text
    assert (
        await browser.post(
            f"/admin/apps/{app_id}/credentials/wns",
            {"client_id": "ms-app://s-1", "client_secret": "wns-secret-123"},
        )
    ).status_code == 303
    with ui.db.session() as session:
        row = get_stored_credentials(session, app_id, "wns")
        assert row is not None
        pause_provider(session, app_id, "wns", "invalid_client", version=row.updated_at, now=time.time())
    page = await browser.get(f"/admin/apps/{app_id}")
    assert "Certificate expires" in page.text
    assert "wns-secret-123" not in page.text
    assert "Paused until" in page.text
    assert "invalid_client" in page.text
    overview = await browser.get("/admin/")
    assert re.search(r"shop · apns</a>: expires", overview.text)
    assert re.search(r"shop · wns</a>: paused until .* invalid_client", overview.text)
    assert 'id="queue-depth"' in overview.text
