"""`pushgate app credentials`: the files providers hand out, as they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner, Result

from pushgate.cli import app as cli
from pushgate.registry import get_app_by_name, get_credentials
from pushgate.registry.db import Database
from pushgate.server.credentials import OVERRIDE_FIELDS, credential_fields
from pushgate.simulators.fcm import FCMSimulator


def run(url: str, *args: str) -> Result:
    env = {"PUSHGATE_DATABASE_URL": url, "PUSHGATE_CONFIG": None, "PUSHGATE_SECRET_KEY": None,
           "COLUMNS": "200"}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def shop(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    assert run(url, "app", "create", "shop").exit_code == 0
    return url


def stored(url: str, provider: str) -> dict[str, object]:
    with Database(url) as db, db.session(write=False) as session:
        app = get_app_by_name(session, "shop")
        assert app is not None
        row = get_credentials(session, app.id, provider)
        assert row is not None
        return dict(row.config)


def test_fcm_takes_googles_service_account_file_as_it_is(shop: str, tmp_path: Path) -> None:
    account = FCMSimulator(ca=None, tls=False).create_service_account("shop-project")
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(account))
    result = run(shop, "app", "credentials", "shop", "fcm", "--file", str(path))
    assert result.exit_code == 0, result.output
    config = stored(shop, "fcm")
    assert isinstance(config["service_account"], dict)
    assert config["service_account"]["client_email"] == account["client_email"]


def test_apns_takes_the_p8_by_path(shop: str, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    p8 = tmp_path / "AuthKey_ABC123DEFG.p8"
    p8.write_bytes(key)
    result = run(shop, "app", "credentials", "shop", "apns", "--key-file", str(p8),
                 "--set", "key_id=ABC123DEFG", "--set", "team_id=TEAM123456",
                 "--set", "topic=com.example.shop")
    assert result.exit_code == 0, result.output
    assert stored(shop, "apns")["key"] == key.decode()
    assert "BEGIN PRIVATE KEY" not in result.output  # printed redacted


@pytest.mark.parametrize(("field", "given"), [("key_id", "ABC123"), ("team_id", "TEAM1234567")])
def test_apns_refuses_a_key_or_team_id_that_is_not_apples_10_characters(
    shop: str, tmp_path: Path, field: str, given: str
) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    p8 = tmp_path / "AuthKey_ABC123DEFG.p8"
    p8.write_bytes(key)
    ids = {"key_id": "ABC123DEFG", "team_id": "TEAM123456", field: given}
    result = run(shop, "app", "credentials", "shop", "apns", "--key-file", str(p8),
                 "--set", f"key_id={ids['key_id']}", "--set", f"team_id={ids['team_id']}",
                 "--set", "topic=com.example.shop")
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: {field}: ")
    assert "10 letters and digits" in result.output


def test_unknown_fields_are_refused_not_stored(shop: str, tmp_path: Path) -> None:
    path = tmp_path / "wns.json"
    path.write_text(json.dumps({"client_id": "ms-app://s-1", "client_secret": "s", "clientsecret": "typo"}))
    result = run(shop, "app", "credentials", "shop", "wns", "--file", str(path))
    assert result.exit_code == 1, result.output
    assert "clientsecret" in result.output
    assert "unknown field" in result.output


def test_help_lists_each_providers_fields() -> None:
    result = run("sqlite://", "app", "credentials", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for provider in ("apns", "fcm", "webpush", "wns"):
        listed = f"{provider}: {', '.join(credential_fields(provider))}"
        assert listed in text, listed  # exactly the provider table's fields
    assert f"any provider: {', '.join(OVERRIDE_FIELDS)}" in text


def test_a_mistyped_provider_or_an_empty_file_says_what_to_fix(shop: str, tmp_path: Path) -> None:
    key = tmp_path / "AuthKey_ABC123DEFG.p8"
    key.write_text("not a key")
    typo = run(shop, "app", "credentials", "shop", "apn", "--key-file", str(key))
    assert typo.exit_code == 1, typo.output
    assert "provider: 'apn' is not one of: apns, fcm, webpush, wns; did you mean 'apns'?" in typo.output
    assert isinstance(typo.exception, SystemExit), typo.exception  # no traceback
    empty = tmp_path / "service-account.json"
    empty.write_text("{}")
    nothing = run(shop, "app", "credentials", "shop", "fcm", "--file", str(empty))
    assert nothing.exit_code == 1, nothing.output
    assert f"{empty} holds no fields" in nothing.output


# The Android app's Firebase config, shaped as the Firebase console hands it out: it
# identifies the app to Firebase's client SDK and holds no key a server can sign with.
GOOGLE_SERVICES = {
    "project_info": {"project_number": "123456789012", "project_id": "shop-project",
                     "storage_bucket": "shop-project.appspot.com"},
    "client": [{
        "client_info": {"mobilesdk_app_id": "1:123456789012:android:0123456789abcdef",
                        "android_client_info": {"package_name": "com.example.shop"}},
        "oauth_client": [],
        "api_key": [{"current_key": "AIzaSyExampleExampleExampleExample12"}],
        "services": {"appinvite_service": {"other_platform_oauth_client": []}},
    }],
    "configuration_version": "1",
}


@pytest.mark.parametrize("option", ["--file", "--key-file"])
def test_fcm_refuses_google_services_json_naming_the_file_it_needs(
    shop: str, tmp_path: Path, option: str
) -> None:
    path = tmp_path / "google-services.json"
    path.write_text(json.dumps(GOOGLE_SERVICES))
    result = run(shop, "app", "credentials", "shop", "fcm", option, str(path))
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "unknown field" not in said
    assert "google-services.json" in said
    assert 'FCM HTTP v1 needs a service-account key JSON (type "service_account")' in said
    assert "Project settings → Service accounts" in said
    assert "AIzaSy" not in said


def test_fcm_refuses_google_service_info_plist_naming_the_file_it_needs(shop: str, tmp_path: Path) -> None:
    from tests.providers.fcm.test_fcm_credentials import GOOGLE_SERVICE_INFO

    path = tmp_path / "GoogleService-Info.plist"
    path.write_text(GOOGLE_SERVICE_INFO)
    result = run(shop, "app", "credentials", "shop", "fcm", "--key-file", str(path))
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "GoogleService-Info.plist, the iOS app's Firebase config" in said
    assert 'FCM HTTP v1 needs a service-account key JSON (type "service_account")' in said
    assert "not a service-account JSON file" not in said
    assert "AIzaSy" not in said
