"""Service-account OAuth against the simulator's token endpoint, over real TLS."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import httpx
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account as google_service_account

from pushgate.errors import AuthenticationError, ConfigurationError, TransportError
from pushgate.providers.fcm.auth import (
    FCM_SCOPE,
    GOOGLE_TOKEN_URI,
    JWT_BEARER,
    REFRESH_MARGIN,
    ServiceAccount,
    ServiceAccountAuth,
)
from pushgate.simulators._base import ManualClock
from pushgate.simulators.fcm import FCMSimulator


def make_auth(
    account: dict[str, Any], ca_file: Path, clock: ManualClock, **options: Any
) -> ServiceAccountAuth:
    return ServiceAccountAuth(ServiceAccount.load(account), verify=str(ca_file), clock=clock, **options)


def other_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def post_token(sim: FCMSimulator, ca_file: Path, form: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file)) as http:
        return await http.post(f"{sim.url}/token", data=form)


async def test_token_is_fetched_once_and_shared(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, clock: ManualClock
) -> None:
    auth = make_auth(service_account, ca_file, clock)
    try:
        tokens = await asyncio.gather(*(auth.token() for _ in range(50)))
        assert len(set(tokens)) == 1
        assert await auth.token() == tokens[0]
        assert auth.refreshes == 1
        assert sim.oauth.issued == 1
        grant = sim.oauth.lookup(tokens[0])
        assert grant is not None
        assert grant.project_id == "demo-project"
    finally:
        await auth.aclose()


async def test_token_is_refreshed_before_expiry(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, clock: ManualClock
) -> None:
    auth = make_auth(service_account, ca_file, clock)
    try:
        first = await auth.token()
        clock.advance(3599 - REFRESH_MARGIN - 1)
        assert await auth.token() == first
        clock.advance(2)
        second = await auth.token()
        assert second != first
        assert auth.refreshes == 2
    finally:
        await auth.aclose()


async def test_invalidate_only_drops_the_named_token(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, clock: ManualClock
) -> None:
    auth = make_auth(service_account, ca_file, clock)
    try:
        first = await auth.token()
        auth.invalidate("some-older-token")
        assert auth.cached() == first
        auth.invalidate(first)
        assert auth.cached() is None
        assert await auth.token() != first
    finally:
        await auth.aclose()


async def test_wrong_key_is_invalid_grant_without_secrets(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, clock: ManualClock
) -> None:
    forged = {**service_account, "private_key": other_key_pem()}
    auth = make_auth(forged, ca_file, clock)
    try:
        with pytest.raises(AuthenticationError) as info:
            await auth.token()
        text = str(info.value)
        assert "invalid_grant" in text
        assert "Invalid JWT Signature" in text
        assert "PRIVATE KEY" not in text
        assert forged["private_key"] not in repr(auth.account)
        # Within the back-off the same error comes back without another request.
        before = sim.requests
        with pytest.raises(AuthenticationError):
            await auth.token()
        assert sim.requests == before
        clock.advance(auth.failure_backoff)
        with pytest.raises(AuthenticationError):
            await auth.token()
        assert sim.requests == before + 1
    finally:
        await auth.aclose()


async def test_unknown_account_and_scope(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, clock: ManualClock
) -> None:
    unknown = {**service_account, "client_email": "x@other.iam.gserviceaccount.com"}
    stranger = make_auth(unknown, ca_file, clock)
    email_only = ["https://www.googleapis.com/auth/userinfo.email"]
    no_scope = make_auth(service_account, ca_file, clock, scopes=email_only)
    try:
        with pytest.raises(AuthenticationError, match="invalid_grant"):
            await stranger.token()
        with pytest.raises(AuthenticationError, match="invalid_scope"):
            await no_scope.token()
    finally:
        await stranger.aclose()
        await no_scope.aclose()


@pytest.mark.parametrize("skew", [-3700.0, 600.0])
async def test_assertion_time_window(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, skew: float
) -> None:
    """An assertion that expired, or one issued well in the future, is refused."""
    off = ManualClock(sim.clock() + skew)
    auth = make_auth(service_account, ca_file, off)
    try:
        with pytest.raises(AuthenticationError, match="short-lived"):
            await auth.token()
    finally:
        await auth.aclose()


async def test_audience_google_default_or_own_url(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path
) -> None:
    account = ServiceAccount.load(service_account)
    now = sim.clock()
    for audience, ok in ((GOOGLE_TOKEN_URI, True), (f"{sim.url}/token", True), ("https://evil/token", False)):
        signed = ServiceAccount.load({**service_account, "token_uri": audience}).assertion(now)
        response = await post_token(sim, ca_file, {"grant_type": JWT_BEARER, "assertion": signed})
        assert (response.status_code == 200) is ok, response.text
    response = await post_token(sim, ca_file, {"grant_type": "client_credentials",
                                               "assertion": account.assertion(now)})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    hs256 = jwt.encode({"iss": account.client_email, "aud": GOOGLE_TOKEN_URI, "scope": FCM_SCOPE,
                        "iat": int(now), "exp": int(now) + 3600}, "secret-secret-secret-secret-32b!",
                       algorithm="HS256")
    response = await post_token(sim, ca_file, {"grant_type": JWT_BEARER, "assertion": hs256})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    long_lived = jwt.encode({"iss": account.client_email, "aud": GOOGLE_TOKEN_URI, "scope": FCM_SCOPE,
                             "iat": int(now), "exp": int(now) + 7200}, account.private_key, algorithm="RS256")
    response = await post_token(sim, ca_file, {"grant_type": JWT_BEARER, "assertion": long_lived})
    assert response.json()["error"] == "invalid_grant"


async def test_unreachable_token_endpoint_is_a_transport_error(
    service_account: dict[str, Any], ca_file: Path, clock: ManualClock
) -> None:
    auth = make_auth({**service_account, "token_uri": "https://127.0.0.1:9/token"}, ca_file, clock)
    try:
        with pytest.raises(TransportError):
            await auth.token()
    finally:
        await auth.aclose()


def test_service_account_sources(service_account: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(service_account))
    from_path = ServiceAccount.load(path)
    assert from_path == ServiceAccount.load(str(path)) == ServiceAccount.load(json.dumps(service_account))
    assert from_path.project_id == "demo-project"
    assert from_path.private_key_id == service_account["private_key_id"]
    assert "PRIVATE" not in repr(from_path)
    with pytest.raises(ConfigurationError, match="private_key") as info:
        ServiceAccount.load({"client_email": "a@b"})
    assert "a@b" not in str(info.value)
    with pytest.raises(ConfigurationError):
        ServiceAccount.load(tmp_path / "missing.json")
    with pytest.raises(ConfigurationError, match="RSA"):
        ServiceAccount.load({"client_email": "a@b", "private_key": "not a key"}).assertion(0)


def test_google_services_json_is_named_for_what_it_is(tmp_path: Path) -> None:
    # The Android app's config, which library callers pass where the service account goes.
    path = tmp_path / "google-services.json"
    path.write_text(json.dumps({"project_info": {"project_id": "demo-project"}, "client": [{}],
                                "configuration_version": "1"}))
    with pytest.raises(ConfigurationError) as info:
        ServiceAccount.load(path)
    assert str(info.value).startswith("this is google-services.json, the Android app's Firebase config: "
                                      'FCM HTTP v1 needs a service-account key JSON (type "service_account")')


def test_google_service_info_plist_is_named_for_what_it_is(tmp_path: Path) -> None:
    # The iOS app's config, which library callers pass where the service account goes.
    from tests.providers.fcm.test_fcm_credentials import GOOGLE_SERVICE_INFO

    path = tmp_path / "GoogleService-Info.plist"
    path.write_text(GOOGLE_SERVICE_INFO)
    for given in (path, str(path), GOOGLE_SERVICE_INFO):
        with pytest.raises(ConfigurationError) as info:
            ServiceAccount.load(given)
        assert str(info.value).startswith(
            "this is GoogleService-Info.plist, the iOS app's Firebase config: "
            'FCM HTTP v1 needs a service-account key JSON (type "service_account")')


def test_assertion_claims(service_account: dict[str, Any]) -> None:
    account = ServiceAccount.load(service_account)
    token = account.assertion(1_700_000_000.7)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": service_account["private_key_id"]}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims == {
        "iss": service_account["client_email"], "scope": FCM_SCOPE, "aud": account.token_uri,
        "iat": 1_700_000_000, "exp": 1_700_003_600,
    }


async def test_google_auth_library_gets_a_token(
    sim: FCMSimulator, service_account: dict[str, Any], ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interop: the real google-auth client (requests, HTTP/1.1) logs in to the simulator."""
    # requests lets these variables win over Session.verify.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    # google-auth declares no types for this constructor.
    credentials = google_service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        service_account, scopes=[FCM_SCOPE]
    )
    session = requests.Session()
    session.verify = str(ca_file)
    request = google.auth.transport.requests.Request(session)
    try:
        await asyncio.to_thread(credentials.refresh, request)
    finally:
        session.close()
    assert credentials.token
    assert sim.oauth.lookup(credentials.token) is not None
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca_file), http2=True) as http:
        response = await http.post(
            f"{sim.url}/v1/projects/demo-project/messages:send",
            json={"message": {"token": "device-1", "notification": {"title": "hi"}}},
            headers={"authorization": f"Bearer {credentials.token}"},
        )
    assert response.status_code == 200, response.text
    assert response.http_version == "HTTP/2"
