"""Apps, API keys (hashed, shown once, revocable) and credentials (redacted when shown)."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

from pushgate.registry import (
    Database,
    NotFound,
    ValidationError,
    authenticate,
    create_api_key,
    create_app,
    delete_app,
    get_credentials,
    list_api_keys,
    list_apps,
    list_credentials,
    revoke_api_key,
    set_credentials,
    update_app_settings,
)
from pushgate.registry.models import ApiKey

APNS_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg\n"
    "-----END PRIVATE KEY-----\n"
)


def test_create_app_returns_a_key_once_and_stores_only_its_hash(database: Database) -> None:
    with database.session() as session:
        app, key = create_app(session, "shop", settings={"max_devices_per_user": 3})
    assert key.startswith("pg_")
    assert len(key) > 40
    with database.connect(write=False) as connection:
        stored = [tuple(row) for row in connection.execute(sa.text("SELECT * FROM api_keys"))]
    assert stored
    assert all(key not in str(value) for row in stored for value in row)
    assert any(hashlib.sha256(key.encode()).hexdigest() in row for row in stored)
    with database.session() as session:
        assert authenticate(session, key) == app.id
        assert [a.name for a in list_apps(session)] == ["shop"]
        assert list_apps(session)[0].setting("max_devices_per_user") == 3
    assert key not in repr(app)


def test_authenticate_rejects_wrong_malformed_and_revoked_keys(database: Database) -> None:
    with database.session() as session:
        app, first = create_app(session, "shop")
        other_app, other = create_app(session, "blog")
        second_row, second = create_api_key(session, app.id, name="ci")
    with database.session() as session:
        assert authenticate(session, second) == app.id
        assert authenticate(session, other) == other_app.id
        assert authenticate(session, first[:-1] + ("A" if first[-1] != "A" else "B")) is None
        for junk in ("", "pg_", "pg_short_x", "xx_abcdefgh_secret", first.replace("pg_", "pk_")):
            assert authenticate(session, junk) is None
        assert revoke_api_key(session, other_app.id, second_row.id) is False  # not that app's key
        assert revoke_api_key(session, app.id, second_row.id) is True
        assert revoke_api_key(session, app.id, second_row.id) is False  # already revoked
    with database.session() as session:
        assert authenticate(session, second) is None
        assert authenticate(session, first) == app.id
        keys = list_api_keys(session, app.id)
        assert [(k.name, k.revoked_at is not None) for k in keys] == [("default", False), ("ci", True)]
        assert all(k.prefix in first or k.prefix in second for k in keys)
        assert "key_hash" not in repr(keys[0])
        assert keys[0].key_hash not in repr(keys[0])


def test_app_names_and_settings_are_validated(database: Database) -> None:
    with database.session() as session:
        app, _ = create_app(session, "shop")
        with pytest.raises(ValidationError) as exc:
            create_app(session, "shop")
        assert exc.value.field == "name"
        with pytest.raises(ValidationError) as exc:
            update_app_settings(session, app.id, max_devices_per_user=0)
        assert exc.value.field == "settings.max_devices_per_user"
        with pytest.raises(ValidationError) as exc:
            update_app_settings(session, app.id, max_device_per_user=3)
        assert exc.value.field == "settings.max_device_per_user"
        updated = update_app_settings(session, app.id, max_devices_per_user=2)
        assert updated.setting("max_devices_per_user") == 2
        with pytest.raises(NotFound):
            create_api_key(session, 999, name="x")


def test_credentials_are_stored_whole_and_shown_redacted(database: Database) -> None:
    service_account = {
        "type": "service_account", "project_id": "demo", "client_email": "svc@demo.iam",
        "private_key_id": "abc123", "private_key": "-----BEGIN PRIVATE KEY-----\nsecret\n",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    with database.session() as session:
        app, _ = create_app(session, "shop")
        set_credentials(session, app.id, "apns", {
            "key": APNS_KEY, "key_id": "ABC123DEFG", "team_id": "TEAM123456",
            "topic": "com.example.shop", "environment": "sandbox",
        })
        set_credentials(session, app.id, "fcm", {"service_account": json.dumps(service_account)})
        set_credentials(session, app.id, "webpush", {
            "vapid_private_key": "private-pem", "vapid_public_key": "BPublic",
            "vapid_subject": "mailto:a@b.c",
        })
        set_credentials(session, app.id, "wns", {"client_id": "ms-app://s-1", "client_secret": "hunter2"})
    with database.session() as session:
        full = get_credentials(session, app.id, "fcm")
        assert full is not None
        assert full.config["service_account"]["private_key"].startswith("-----BEGIN")
        shown = {c.provider: c.redacted() for c in list_credentials(session, app.id)}
        apns = get_credentials(session, app.id, "apns")
        assert apns is not None
        assert APNS_KEY not in repr(apns)
    assert shown["apns"] == {
        "key": "***", "key_id": "ABC123DEFG", "team_id": "TEAM123456",
        "topic": "com.example.shop", "environment": "sandbox",
    }
    assert shown["fcm"]["service_account"]["private_key"] == "***"
    assert shown["fcm"]["service_account"]["client_email"] == "svc@demo.iam"
    assert shown["webpush"]["vapid_private_key"] == "***"
    assert shown["webpush"]["vapid_public_key"] == "BPublic"
    assert shown["wns"] == {"client_id": "ms-app://s-1", "client_secret": "***"}
    text = json.dumps(shown)
    for secret in ("secret\\n", "hunter2", "private-pem", "MIGTAgEA"):
        assert secret not in text


@pytest.mark.parametrize(
    ("provider", "config", "field"),
    [
        ("apns", {"topic": "t", "environment": "sandbox"}, "config.key"),
        ("apns", {"topic": "t", "environment": "prod", "certificate": "pem"}, "config.environment"),
        ("apns", {"topic": "t", "environment": "sandbox", "key": "k"}, "config.key_id"),
        (
            "apns",
            {"topic": "t", "environment": "sandbox", "key": "k", "certificate": "c"},
            "config.certificate",
        ),
        ("fcm", {"service_account": "{not json"}, "config.service_account"),
        ("fcm", {"service_account": {"project_id": "p"}}, "config.service_account.client_email"),
        ("webpush", {"vapid_private_key": "k"}, "config.vapid_subject"),
        ("wns", {"client_id": "x"}, "config.client_secret"),
        ("gcm", {}, "provider"),
    ],
)
def test_credentials_shape_errors_name_the_field(
    database: Database, provider: str, config: dict[str, object], field: str
) -> None:
    with database.session() as session:
        app, _ = create_app(session, "shop")
        with pytest.raises(ValidationError) as exc:
            set_credentials(session, app.id, provider, config)
        assert exc.value.field == field


def test_deleting_an_app_deletes_what_it_owns(database: Database) -> None:
    from pushgate.registry import (
        DeliveryStatus,
        DeviceSpec,
        Outcome,
        create_send,
        record_outcomes,
        register_device,
    )
    from pushgate.registry.models import Delivery, Device, Send

    with database.session() as session:
        app, key = create_app(session, "shop")
        other, _ = create_app(session, "other")
        set_credentials(session, app.id, "wns", {"client_id": "x", "client_secret": "y"})
        for owner in (app.id, other.id):
            device = register_device(session, owner, DeviceSpec("fcm", f"fcm-token-{owner:030d}", user="u"))
            send = create_send(session, owner, {"title": "t"}, {"all": True})
            record_outcomes(session, send.id, "fcm", [Outcome(device.id, DeliveryStatus.SENT)])
    with database.session() as session:
        assert delete_app(session, app.id) is True
        assert delete_app(session, app.id) is False
    with database.session() as session:
        assert authenticate(session, key) is None
        assert session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 1  # the other app's
        for model in (Device, Send, Delivery):
            assert session.scalar(sa.select(sa.func.count()).select_from(model)) == 1
