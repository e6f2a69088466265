"""FCM credentials: the stored shape (registry) and the full check (API), in the provider's spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pushgate.providers import CredentialError, provider_spec

SPEC = provider_spec("fcm")


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def account(**changes: Any) -> dict[str, Any]:
    values = {
        "type": "service_account", "project_id": "demo-project", "private_key_id": "k1",
        "private_key": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "client_email": "sender@demo-project.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    values.update(changes)
    return values


def test_stored_shape_parses_a_service_account_given_as_text() -> None:
    text = json.dumps(account())
    assert SPEC.check_stored({"service_account": text})["service_account"] == json.loads(text)


@pytest.mark.parametrize(("config", "field", "message"), [
    ({}, "service_account", "required for fcm"),
    ({"service_account": "{not json"}, "service_account", "not a JSON service account"),
    ({"service_account": {"project_id": "p", "private_key": "k"}}, "service_account.client_email",
     "required"),
    ({"service_account": ["x"]}, "service_account.project_id", "required"),
])
def test_stored_shape_names_the_field(config: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(CredentialError) as info:
        SPEC.check_stored(config)
    assert (info.value.field, info.value.message) == (field, message)


def test_validate_parses_the_rsa_key() -> None:
    checked = SPEC.validate({"service_account": json.dumps(account())})
    assert checked["service_account"]["project_id"] == "demo-project"


@pytest.mark.parametrize(("config", "field"), [
    ({"service_account": "nope"}, "service_account"),
    ({"service_account": 5}, "service_account"),
    ({"service_account": account(client_email="")}, "service_account.client_email"),
    ({"service_account": account(type="authorized_user")}, "service_account.type"),
    ({"service_account": account(private_key="-----BEGIN PRIVATE KEY-----\nxx")},
     "service_account.private_key"),
    ({"service_account": account(private_key=_pem(ec.generate_private_key(ec.SECP256R1())))},
     "service_account.private_key"),
    ({"service_account": account(token_uri="ftp://x")}, "service_account.token_uri"),
])
def test_validate_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(CredentialError) as info:
        SPEC.validate(config)
    assert info.value.field == field
    assert "PRIVATE KEY" not in info.value.message.replace("-----BEGIN PRIVATE KEY-----...", "")


GOOGLE_SERVICES = {  # the Android app's Firebase config (google-services.json), trimmed
    "project_info": {"project_number": "123456789012", "project_id": "demo-project"},
    "client": [{"client_info": {"mobilesdk_app_id": "1:123456789012:android:0123456789abcdef"}}],
    "configuration_version": "1",
}


@pytest.mark.parametrize("check", ["check_stored", "validate"])
@pytest.mark.parametrize("given", [GOOGLE_SERVICES, json.dumps(GOOGLE_SERVICES)], ids=["object", "text"])
def test_google_services_json_is_named_and_the_service_account_key_asked_for(check: str, given: Any) -> None:
    with pytest.raises(CredentialError) as info:
        getattr(SPEC, check)({"service_account": given})
    assert info.value.field == "service_account"
    assert info.value.message.startswith("this is google-services.json")
    assert 'needs a service-account key JSON (type "service_account"' in info.value.message


GOOGLE_SERVICE_INFO = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>API_KEY</key>
	<string>AIzaSyExampleExampleExampleExample12</string>
	<key>GCM_SENDER_ID</key>
	<string>123456789012</string>
	<key>PLIST_VERSION</key>
	<string>1</string>
	<key>BUNDLE_ID</key>
	<string>com.example.shop</string>
	<key>PROJECT_ID</key>
	<string>demo-project</string>
	<key>GOOGLE_APP_ID</key>
	<string>1:123456789012:ios:0123456789abcdef</string>
</dict>
</plist>
"""  # the iOS app's Firebase config (GoogleService-Info.plist), trimmed


@pytest.mark.parametrize("check", ["check_stored", "validate", "key_file"])
def test_google_service_info_plist_is_named_and_the_service_account_key_asked_for(check: str) -> None:
    def read() -> object:
        if check == "key_file":  # `pushgate app credentials --key-file`, the admin UI's upload
            assert SPEC.key_file_fields is not None
            return SPEC.key_file_fields(GOOGLE_SERVICE_INFO)
        return getattr(SPEC, check)({"service_account": GOOGLE_SERVICE_INFO})

    with pytest.raises(CredentialError) as info:
        read()
    assert info.value.field == "service_account"
    assert info.value.message.startswith("this is GoogleService-Info.plist, the iOS app's Firebase config: ")
    assert 'needs a service-account key JSON (type "service_account"' in info.value.message
    assert "AIzaSy" not in info.value.message


def test_google_services_json_given_as_the_whole_document_becomes_the_account_to_refuse() -> None:
    assert SPEC.from_vendor_document(dict(GOOGLE_SERVICES)) == {"service_account": GOOGLE_SERVICES}
