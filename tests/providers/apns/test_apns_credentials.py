"""APNs credentials: the stored shape (registry) and the full check (API), in the provider's spec."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pushgate.providers import CredentialError, provider_spec

SPEC = provider_spec("apns")
BAD_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _certificate(key: rsa.RSAPrivateKey) -> str:
    import datetime

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple Push Services: com.example.shop")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def token_auth(**changes: Any) -> dict[str, Any]:
    config = {"key": _pem(ec.generate_private_key(ec.SECP256R1())), "key_id": "ABC123DEFG",
              "team_id": "TEAM123456", "topic": "com.example.shop", "environment": "sandbox"}
    config.update(changes)
    return {k: v for k, v in config.items() if v is not None}


def test_stored_shape_accepts_token_and_certificate_auth() -> None:
    config = token_auth()
    assert SPEC.check_stored(config) is config
    assert SPEC.check_stored({"certificate": "PEM", "topic": "t", "environment": "production"})


@pytest.mark.parametrize(("config", "field", "message"), [
    ({"environment": "sandbox", "key": "k", "key_id": "ABC123DEFG", "team_id": "TEAM123456"}, "topic",
     "required for apns"),
    ({"topic": "t", "key": "k", "key_id": "ABC123DEFG", "team_id": "TEAM123456"}, "environment",
     "required for apns"),
    ({"topic": "t", "environment": "sandbox"}, "key", "required for apns"),
    ({"topic": "t", "environment": "sandbox", "key": "k", "certificate": "c"}, "certificate",
     "give only one of key, certificate"),
    ({"topic": "t", "environment": "staging", "certificate": "c"}, "environment",
     "one of production, sandbox"),
    ({"topic": "t", "environment": "sandbox", "key": "k", "team_id": "TEAM123456"}, "key_id",
     "required with an APNs signing key"),
])
def test_stored_shape_names_the_field(config: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(CredentialError) as info:
        SPEC.check_stored(config)
    assert (info.value.field, info.value.message) == (field, message)


def test_validate_parses_the_signing_key_and_defaults_the_environment() -> None:
    config = token_auth(environment=None)
    assert SPEC.validate(config)["environment"] == "production"


def test_validate_accepts_a_certificate_with_its_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    config = {"topic": "com.example.shop", "certificate": _certificate(key), "certificate_key": _pem(key)}
    assert SPEC.validate(config) is config
    SPEC.validate({"topic": "t", "certificate": _certificate(key) + _pem(key)})  # one PEM holding both


@pytest.mark.parametrize(("changes", "field", "text"), [
    ({"topic": None}, "topic", "required (the app's bundle id)"),
    ({"environment": "dev"}, "environment", "one of production, sandbox"),
    ({"key": "not a pem"}, "key", "PEM text"),
    ({"key": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))}, "key", "EC P-256"),
    ({"key_id": ""}, "key_id", "required with a signing key"),
    ({"certificate": "x"}, "key", "not both"),
])
def test_validate_names_the_field_and_never_the_value(changes: dict[str, Any], field: str, text: str) -> None:
    config = token_auth(**changes)
    config.update({k: v for k, v in changes.items() if v == ""})
    with pytest.raises(CredentialError) as info:
        SPEC.validate(config)
    assert info.value.field == field
    assert text in info.value.message
    assert not any(isinstance(v, str) and len(v) > 12 and v in str(info.value) for v in config.values())


# Apple's Key ID and Team ID are 10-character strings (developer.apple.com, "Establishing a
# token-based connection to APNs"): the JWT's "kid" and "iss".
@pytest.mark.parametrize("field", ["key_id", "team_id"])
@pytest.mark.parametrize("given", ["ABC123DEF", "ABC123DEFGH", "ABC-123DEF", "ABC123DEF ", "ABC123DÉFG"])
def test_key_and_team_ids_that_are_not_10_letters_and_digits_are_refused(field: str, given: str) -> None:
    for check in (SPEC.validate, SPEC.check_stored):
        with pytest.raises(CredentialError) as info:
            check(token_auth(**{field: given}))
        assert info.value.field == field
        assert "10 letters and digits" in info.value.message
    assert SPEC.validate(token_auth(**{field: "0123456789"}))[field] == "0123456789"


def test_validate_refuses_a_certificate_without_its_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CredentialError) as info:
        SPEC.validate({"topic": "t", "certificate": _certificate(key)})
    assert info.value.field == "certificate_key"
    with pytest.raises(CredentialError) as info:
        SPEC.validate({"topic": "t", "certificate": BAD_CERTIFICATE})
    assert info.value.field == "certificate"
