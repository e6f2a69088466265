"""The APNs provider-token signer and credential loading (docs/protocols/apns.md §2.1 and §2.2)."""

from __future__ import annotations

from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from hpack import Decoder

from pushgate.errors import ConfigurationError
from pushgate.providers.apns.auth import (
    MAX_REFRESH,
    MIN_REFRESH,
    TokenSigner,
    certificate_uid,
    load_signing_key,
)
from pushgate.simulators._base import ManualClock
from pushgate.simulators.tls import LocalCA


def pem(key: PrivateKeyTypes) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def signer_for(key: ec.EllipticCurvePrivateKey, clock: ManualClock, refresh: float = 3000) -> TokenSigner:
    return TokenSigner(key, key_id="KEYID12345", team_id="TEAMID1234", clock=clock, refresh_interval=refresh)


def authorization(signer: TokenSigner) -> str:
    block, _ = signer.header()
    [(name, value)] = Decoder().decode(bytes(block))
    assert str(name) == "authorization"
    text = str(value)
    assert text.startswith("bearer ")
    return text[len("bearer "):]


def test_token_is_es256_verifiable_by_pyjwt(key: ec.EllipticCurvePrivateKey) -> None:
    clock = ManualClock(1_800_000_000)
    signer = signer_for(key, clock)
    token = authorization(signer)
    assert token == signer.token()
    assert pyjwt.get_unverified_header(token) == {"alg": "ES256", "kid": "KEYID12345"}
    claims = pyjwt.decode(token, key.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": "TEAMID1234", "iat": 1_800_000_000}


def test_token_cached_until_refresh_interval(key: ec.EllipticCurvePrivateKey) -> None:
    clock = ManualClock(1_800_000_000)
    signer = signer_for(key, clock, refresh=1500)
    first, gen1 = signer.header()
    clock.advance(1499)
    again, gen2 = signer.header()
    assert (again, gen2) == (first, gen1)
    clock.advance(1)
    fresh, gen3 = signer.header()
    assert fresh != first
    assert gen3 == gen1 + 1
    assert signer.issued_at == 1_800_001_500


@pytest.mark.parametrize(("asked", "used"), [(1, MIN_REFRESH), (10_000, MAX_REFRESH), (2000, 2000)])
def test_refresh_interval_is_clamped(key: ec.EllipticCurvePrivateKey, asked: float, used: float) -> None:
    assert signer_for(key, ManualClock(0), refresh=asked).refresh_interval == used


def test_expire_rebuilds_once_per_generation(key: ec.EllipticCurvePrivateKey) -> None:
    clock = ManualClock(1_800_000_000)
    signer = signer_for(key, clock)
    block, generation = signer.header()
    assert signer.expire(generation)
    assert not signer.expire(generation)  # already dropped
    rebuilt, newer = signer.header()
    assert rebuilt != block  # same second, same iat, a new token all the same
    assert newer == generation + 1
    assert not signer.expire(generation)  # a late 403 for the old token changes nothing
    assert signer.header() == (rebuilt, newer)


def test_repr_shows_no_secret(key: ec.EllipticCurvePrivateKey) -> None:
    signer = signer_for(key, ManualClock(0))
    signer.header()
    assert "bearer" not in repr(signer)
    assert signer.token() not in repr(signer)


def test_load_key_from_text_bytes_and_paths(key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    text = pem(key)
    path = tmp_path / "AuthKey_KEYID12345.p8"
    path.write_text(text)
    for source in (text, text.encode(), path, str(path)):
        loaded = load_signing_key(source)
        assert loaded.public_key().public_numbers() == key.public_key().public_numbers()


def test_load_key_errors(tmp_path: Path) -> None:
    rsa_pem = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(ConfigurationError, match="EC P-256"):
        load_signing_key(rsa_pem)
    p384 = pem(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ConfigurationError, match="EC P-256"):
        load_signing_key(p384)
    with pytest.raises(ConfigurationError, match="PKCS#8") as info:
        load_signing_key(b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
    assert "c2VjcmV0" not in str(info.value)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_signing_key(tmp_path / "nope.p8")


def test_certificate_uid(local_ca: LocalCA, tmp_path: Path) -> None:
    cert, _ = local_ca.issue_client_cert("Apple Push Services: com.example.app", uid="com.example.app")
    (tmp_path / "c.pem").write_bytes(cert)
    assert certificate_uid(tmp_path / "c.pem") == "com.example.app"
    plain, _ = local_ca.issue_client_cert("no uid")
    (tmp_path / "p.pem").write_bytes(plain)
    assert certificate_uid(tmp_path / "p.pem") is None
    with pytest.raises(ConfigurationError):
        certificate_uid(tmp_path / "missing.pem")
