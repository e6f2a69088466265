"""Credentials encrypted at rest: sealed secret values, bound to their row and field, rotatable."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from pushgate.errors import ConfigurationError
from pushgate.registry import (
    CredentialCipher,
    Credentials,
    CredentialsUnreadable,
    Database,
    create_app,
    get_credentials,
    get_stored_credentials,
    list_credentials,
    reencrypt_credentials,
    set_credentials,
)
from pushgate.registry.credential_cipher import SEALED_PREFIX
from pushgate.registry.pauses import PAUSE_KEY, all_pauses, pause_provider

KEY = "k" * 16 + "current-secret-key-0123456789"
OLD_KEY = "o" * 16 + "previous-secret-key-0123456789"
OTHER_KEY = "x" * 16 + "somebody-elses-key-0123456789"
PEM_BODY = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET"
APNS = {
    "key": f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n",
    "key_id": "ABC123DEFG", "team_id": "TEAM123456", "topic": "com.example.shop", "environment": "sandbox",
}
RSA_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDRSASECRET"
SERVICE_ACCOUNT = {
    "type": "service_account", "project_id": "demo", "client_email": "svc@demo.iam",
    "private_key_id": "abc123", "private_key": f"-----BEGIN PRIVATE KEY-----\n{RSA_BODY}\n-----END",
}


def stored_text(database: Database, app_id: int, provider: str) -> str:
    """The credentials row's config as the database holds it (what a backup would contain)."""
    with database.connect(write=False) as connection:
        value = connection.execute(
            sa.text("SELECT config FROM credentials WHERE app_id = :a AND provider = :p"),
            {"a": app_id, "p": provider},
        ).scalar_one()
    return value if isinstance(value, str) else json.dumps(value)


def stored(database: Database, app_id: int, provider: str) -> dict[str, Any]:
    loaded = json.loads(stored_text(database, app_id, provider))
    assert isinstance(loaded, dict)
    return loaded


def write_raw(database: Database, app_id: int, provider: str, config: dict[str, Any]) -> None:
    with database.connect() as connection:
        connection.execute(
            sa.text("UPDATE credentials SET config = :c WHERE app_id = :a AND provider = :p"),
            {"c": json.dumps(config), "a": app_id, "p": provider},
        )
        connection.commit()


def new_app(database: Database, name: str, **credentials: dict[str, Any]) -> int:
    cipher = CredentialCipher(KEY)
    with database.session() as session:
        app, _ = create_app(session, name)
        for provider, config in credentials.items():
            set_credentials(session, app.id, provider, config, cipher=cipher)
        return app.id


def test_secrets_are_stored_sealed_and_read_back_whole(database: Database) -> None:
    wns = {"client_id": "ms-app://s-1", "client_secret": "hunter2-wns-secret"}
    app_id = new_app(database, "shop", apns=APNS, fcm={"service_account": json.dumps(SERVICE_ACCOUNT)},
                     wns=wns)
    for provider, secret in (("apns", PEM_BODY), ("fcm", RSA_BODY), ("wns", "hunter2")):
        assert secret not in stored_text(database, app_id, provider)
    apns = stored(database, app_id, "apns")
    assert apns["key"].startswith(SEALED_PREFIX)
    assert {k: v for k, v in apns.items() if k != "key"} == {k: v for k, v in APNS.items() if k != "key"}
    account = stored(database, app_id, "fcm")["service_account"]
    assert account["private_key"].startswith(SEALED_PREFIX)
    assert (account["client_email"], account["private_key_id"]) == ("svc@demo.iam", "abc123")
    assert stored(database, app_id, "wns")["client_id"] == "ms-app://s-1"

    cipher = CredentialCipher(KEY)
    with database.session(write=False) as session:
        full = get_credentials(session, app_id, "apns", cipher=cipher)
        assert full is not None
        assert full.config == APNS
        assert PEM_BODY not in repr(full)
        fcm = get_credentials(session, app_id, "fcm", cipher=cipher)
        assert fcm is not None
        assert fcm.config["service_account"] == SERVICE_ACCOUNT
        shown = {row.provider: row.redacted() for row in list_credentials(session, app_id)}
    assert shown["apns"] == {**APNS, "key": "***"}  # the same masked shape as plain storage
    assert shown["fcm"]["service_account"] == {**SERVICE_ACCOUNT, "private_key": "***"}
    assert shown["wns"] == {**wns, "client_secret": "***"}


def test_non_string_secret_values_keep_their_type(database: Database) -> None:
    config = {**APNS, "key_rotation": {"secret_numbers": [1, 2], "certificate_flag": True}}
    app_id = new_app(database, "shop", apns=config)
    sealed = stored(database, app_id, "apns")["key_rotation"]
    assert all(str(v).startswith(SEALED_PREFIX) for v in sealed["secret_numbers"])
    with database.session(write=False) as session:
        full = get_credentials(session, app_id, "apns", cipher=CredentialCipher(KEY))
    assert full is not None
    assert full.config == config


def test_a_sealed_value_moved_to_another_app_or_field_does_not_decrypt(database: Database) -> None:
    shop = new_app(database, "shop", apns=APNS)
    other = new_app(database, "other", apns={**APNS, "key": "other app's key"})
    stolen = stored(database, shop, "apns")["key"]
    write_raw(database, other, "apns", {**stored(database, other, "apns"), "key": stolen})
    cipher = CredentialCipher(KEY)
    with database.session(write=False) as session, pytest.raises(CredentialsUnreadable) as caught:
        get_credentials(session, other, "apns", cipher=cipher)
    assert f"apns credentials of app {other}" in str(caught.value)
    assert "(key)" in str(caught.value)

    with database.session() as session:
        set_credentials(session, shop, "wns", {"client_id": "c", "client_secret": "s"}, cipher=cipher)
    write_raw(database, shop, "wns", {"client_id": "c", "client_secret": stolen})  # another provider
    write_raw(database, shop, "apns", {**APNS, "key": "plain", "certificate_key": stolen})  # another field
    with database.session(write=False) as session:
        with pytest.raises(CredentialsUnreadable, match=r"wns credentials .*\(client_secret\)"):
            get_credentials(session, shop, "wns", cipher=cipher)
        with pytest.raises(CredentialsUnreadable, match=r"\(certificate_key\)"):
            get_credentials(session, shop, "apns", cipher=cipher)


def test_a_wrong_or_missing_key_is_a_clear_error_without_the_secret(database: Database) -> None:
    app_id = new_app(database, "shop", apns=APNS)
    for cipher in (CredentialCipher(OTHER_KEY), CredentialCipher(None), None):
        with database.session(write=False) as session, pytest.raises(CredentialsUnreadable) as caught:
            get_credentials(session, app_id, "apns", cipher=cipher)
        message = str(caught.value)
        assert f"the apns credentials of app {app_id} cannot be decrypted" in message
        assert PEM_BODY not in message
        assert SEALED_PREFIX not in message
    assert "no secret_key is set" in message
    # Showing them needs no key: redaction masks sealed values like plain ones.
    with database.session(write=False) as session:
        row = get_stored_credentials(session, app_id, "apns")
        assert row is not None
        assert row.redacted()["key"] == "***"


def test_plain_rows_stay_readable_once_a_key_is_set(database: Database) -> None:
    with database.session() as session:
        app, _ = create_app(session, "shop")
        set_credentials(session, app.id, "apns", APNS)  # no key configured yet
    assert PEM_BODY in stored_text(database, app.id, "apns")
    with database.session(write=False) as session:
        full = get_credentials(session, app.id, "apns", cipher=CredentialCipher(KEY))
    assert full is not None
    assert full.config == APNS


def test_previous_keys_decrypt_and_reencrypt_moves_every_row_to_the_current_key(database: Database) -> None:
    old = CredentialCipher(OLD_KEY)
    with database.session() as session:
        app, _ = create_app(session, "shop")
        set_credentials(session, app.id, "apns", APNS, cipher=old)
        set_credentials(session, app.id, "wns", {"client_id": "c", "client_secret": "plain-secret"})
        version = session.get_one(Credentials, (app.id, "apns")).updated_at
        pause_provider(session, app.id, "apns", "InvalidProviderToken", version=version, now=time.time())
    rotated = CredentialCipher(KEY, [OLD_KEY])
    with database.session(write=False) as session:
        full = get_credentials(session, app.id, "apns", cipher=rotated)
        assert full is not None
        assert full.config["key"] == APNS["key"]
        with pytest.raises(CredentialsUnreadable):  # the new key alone cannot read the old rows
            get_credentials(session, app.id, "apns", cipher=CredentialCipher(KEY))

    with database.session() as session:
        assert reencrypt_credentials(session, rotated) == (2, 2)
    with database.session() as session:  # idempotent
        assert reencrypt_credentials(session, rotated) == (0, 2)
    assert "plain-secret" not in stored_text(database, app.id, "wns")
    current = CredentialCipher(KEY)
    with database.session(write=False) as session:
        apns = get_credentials(session, app.id, "apns", cipher=current)
        wns = get_credentials(session, app.id, "wns", cipher=current)
        assert apns is not None
        assert wns is not None
        assert {k: v for k, v in apns.config.items() if k != PAUSE_KEY} == APNS
        assert wns.config["client_secret"] == "plain-secret"
        # Same credentials, same version: the pause recorded against them still holds.
        assert apns.updated_at == version
        assert [p.provider for p in all_pauses(session)] == ["apns"]


def test_reencrypt_refuses_values_no_key_opens_and_changes_nothing(database: Database) -> None:
    app_id = new_app(database, "shop", apns=APNS)
    with database.session() as session:
        set_credentials(session, app_id, "wns", {"client_id": "c", "client_secret": "s"})
    before = stored_text(database, app_id, "wns")
    with database.session() as session, pytest.raises(CredentialsUnreadable, match=f"app {app_id}"):
        reencrypt_credentials(session, CredentialCipher(OTHER_KEY))
    assert stored_text(database, app_id, "wns") == before


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        CredentialCipher("too short")
