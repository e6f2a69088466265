"""VAPID (RFC 8292): key forms, the ES256 JWT checked by independent code
(pyjwt, py_vapid), subject rules, and caching per audience on a manual clock."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from pushgate.crypto.vapid import (
    JWTError,
    VapidKey,
    audience_of,
    b64url_decode,
    b64url_encode,
    validate_subject,
    verify_jwt,
)
from pushgate.errors import ConfigurationError
from pushgate.providers.webpush.auth import Vapid
from pushgate.simulators._base import ManualClock

AUD = "https://updates.push.services.mozilla.com"
SUB = "mailto:ops@example.com"


def _parts(header: str) -> tuple[str, str]:
    assert header.startswith("vapid t=")
    token, key = header[len("vapid t="):].split(", k=")
    return token, key


def test_key_forms_load_to_the_same_key(tmp_path: Path) -> None:
    key = VapidKey.generate()
    pem = key.private_pem()
    path = tmp_path / "vapid.pem"
    path.write_bytes(pem)
    der = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    forms: list[VapidKey | ec.EllipticCurvePrivateKey | str | bytes | Path] = [
        pem, pem.decode(), path, key.private_raw(), b64url_decode(key.private_raw()),
        b64url_encode(der), key.private_key, key,
    ]
    for form in forms:
        assert VapidKey.load(form).public_bytes == key.public_bytes
    sec1 = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert VapidKey.from_pem(sec1).public_bytes == key.public_bytes


def test_application_server_key_is_65_bytes_base64url() -> None:
    key = VapidKey.generate()
    assert len(key.application_server_key) == 87
    assert "=" not in key.application_server_key
    assert b64url_decode(key.application_server_key)[0] == 0x04


def test_bad_keys_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        VapidKey.load("not a key!")
    with pytest.raises(ConfigurationError):
        VapidKey.load("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigurationError):
        VapidKey(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ConfigurationError):
        VapidKey.from_raw(b"\xff" * 32)  # above the group order


def test_secrets_stay_out_of_reprs() -> None:
    key = VapidKey.generate()
    vapid = Vapid(key, SUB)
    for text in (repr(key), str(key), repr(vapid)):
        assert key.private_raw() not in text


def test_jwt_verifies_with_pyjwt_and_has_the_rfc_claims() -> None:
    clock = ManualClock(1_800_000_000)
    vapid = Vapid(VapidKey.generate(), SUB, clock=clock)
    token, k = _parts(vapid._sign(AUD))
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"typ": "JWT", "alg": "ES256"}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(k))
    claims = jwt.decode(
        token, key=public, algorithms=["ES256"], audience=AUD,
        options={"verify_exp": False},
    )
    assert claims == {"aud": AUD, "exp": 1_800_000_000 + 12 * 3600, "sub": SUB}
    assert verify_jwt(token, public) == claims


def test_verify_jwt_rejects_forgeries() -> None:
    key, other = VapidKey.generate(), VapidKey.generate()
    token = key.sign_jwt({"aud": AUD, "exp": 1})
    public = other.private_key.public_key()
    with pytest.raises(JWTError, match="does not verify"):
        verify_jwt(token, public)
    with pytest.raises(JWTError, match="three"):
        verify_jwt("a.b", public)
    head, body, sig = token.split(".")
    hs256 = b64url_encode(b'{"alg":"HS256"}')
    with pytest.raises(JWTError, match="ES256"):
        verify_jwt(f"{hs256}.{body}.{sig}", key.private_key.public_key())
    with pytest.raises(JWTError, match="64 bytes"):
        verify_jwt(f"{head}.{body}.{sig[:20]}", key.private_key.public_key())
    with pytest.raises(JWTError, match="decode"):
        verify_jwt(f"{head}.%%%.{sig}", key.private_key.public_key())


def test_py_vapid_tokens_verify_with_our_verifier() -> None:
    signer = Vapid02()
    signer.generate_keys()
    headers = signer.sign({"sub": SUB, "aud": AUD, "exp": 2_000_000_000})
    token, k = _parts(headers["Authorization"].replace("t=", "t=", 1).replace(",k=", ", k="))
    claims = verify_jwt(token, ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(k)))
    assert claims["aud"] == AUD


@pytest.mark.parametrize(
    "subject",
    ["ops@example.com", "mailto:", "mailto: ops@example.com", "mailto:<ops@example.com>",
     "https://localhost/contact", "https://app.localhost", "http://example.com", "https://"],
)
def test_bad_subjects(subject: str) -> None:
    with pytest.raises(ConfigurationError):
        validate_subject(subject)
    with pytest.raises(ConfigurationError):
        Vapid(VapidKey.generate(), subject)


@pytest.mark.parametrize("subject", ["mailto:ops@example.com", "https://example.com/contact"])
def test_good_subjects(subject: str) -> None:
    assert validate_subject(subject) == subject


def test_lifetime_is_bounded() -> None:
    with pytest.raises(ConfigurationError):
        Vapid(VapidKey.generate(), SUB, lifetime=25 * 3600)
    with pytest.raises(ConfigurationError):
        Vapid(VapidKey.generate(), SUB, lifetime=3600)


async def test_cached_per_audience_and_renewed_with_an_hour_left() -> None:
    clock = ManualClock(1_800_000_000)
    vapid = Vapid(VapidKey.generate(), SUB, clock=clock)
    assert vapid.cached(AUD) is None
    first = await vapid.header(AUD)
    assert await vapid.header(AUD) == first
    other = await vapid.header("https://fcm.googleapis.com")
    assert other != first
    assert vapid.signed == 2
    clock.advance(11 * 3600 - 1)  # just over an hour left: still reused
    assert await vapid.header(AUD) == first
    clock.advance(2)  # less than an hour left: a new JWT
    renewed = await vapid.header(AUD)
    assert renewed != first
    token, _ = _parts(renewed)
    exp = json.loads(b64url_decode(token.split(".")[1]))["exp"]
    assert exp == int(clock()) + 12 * 3600
    vapid.invalidate(AUD)
    assert vapid.cached(AUD) is None
    vapid.invalidate()
    assert vapid.cached("https://fcm.googleapis.com") is None


async def test_concurrent_first_use_signs_once() -> None:
    vapid = Vapid(VapidKey.generate(), SUB)
    headers = await asyncio.gather(*(vapid.header(AUD) for _ in range(50)))
    assert len(set(headers)) == 1
    assert vapid.signed == 1


def test_helpers() -> None:
    assert audience_of("https://push.example.net:8443/wpush/v1/abc?x=1") == "https://push.example.net:8443"
    raw = bytes(range(40))
    for text in (b64url_encode(raw), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        assert b64url_decode(text) == raw
    with pytest.raises(ValueError, match="impossible length"):
        b64url_decode("abcde")
    with pytest.raises(ValueError, match="base64"):
        b64url_decode("ab!d")
