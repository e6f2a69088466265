"""WNS OAuth: classic and Entra token fetch against the simulator's token endpoints."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pushgate.errors import AuthenticationError, RetryableError, TransportError
from pushgate.providers.wns.auth import CLASSIC_SCOPE, ENTRA_SCOPE, WNSAuth
from pushgate.simulators._base import Fault, ManualClock
from pushgate.simulators.wns import WNSSimulator

TENANT = "contoso.onmicrosoft.com"


@pytest.fixture
async def http(client_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=client_context) as client:
        yield client


def classic(sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock, **kw: object) -> WNSAuth:
    creds = sim.demo_credentials()
    options: dict[str, Any] = {
        "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "token_url": creds["token_url"], "http": http, "clock": clock,
    }
    options.update(kw)
    return WNSAuth(**options)


def entra(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock, secret: str | None = None
) -> WNSAuth:
    app = sim.register_app(tenant_id=TENANT)
    return WNSAuth(
        client_id=app.client_id, client_secret=secret or app.client_secret, tenant_id=TENANT,
        token_url=sim.demo_credentials()["entra_token_url"], http=http, clock=clock,
    )


async def test_classic_token_is_fetched_and_cached(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    auth = classic(sim, http, clock)
    assert auth.scope == CLASSIC_SCOPE
    token = await auth.token()
    assert token
    assert await auth.token() == token
    assert sim.tokens_issued == 1


async def test_entra_token_with_string_expiry(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    auth = entra(sim, http, clock)
    assert auth.scope == ENTRA_SCOPE
    assert auth.token_url == f"{sim.url}/{TENANT}/oauth2/v2.0/token"
    token = await auth.token()
    clock.advance(86400 - 301)  # still inside expires_in ("86400") minus the margin
    assert await auth.token() == token
    clock.advance(2)
    assert await auth.token() != token
    assert sim.tokens_issued == 2


async def test_refreshed_after_expiry(sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock) -> None:
    auth = classic(sim, http, clock, margin=60.0)
    first = await auth.token()
    clock.advance(86400 - 61)
    assert await auth.token() == first
    clock.advance(1)
    second = await auth.token()
    assert second != first
    assert sim.tokens_issued == 2


async def test_short_lifetimes_get_half_the_margin(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    sim.token_lifetime = 100
    auth = classic(sim, http, clock)
    first = await auth.token()
    clock.advance(49)
    assert await auth.token() == first
    clock.advance(1)
    assert await auth.token() != first


async def test_concurrent_callers_share_one_fetch(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    auth = classic(sim, http, clock)
    tokens = await asyncio.gather(*(auth.token() for _ in range(50)))
    assert len(set(tokens)) == 1
    assert sim.tokens_issued == 1
    assert auth.fetches == 1


async def test_invalidate_only_drops_the_refused_token(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    auth = classic(sim, http, clock)
    first = await auth.token()
    auth.invalidate("some-older-token")
    assert await auth.token() == first
    auth.invalidate(first)
    assert await auth.token() != first
    assert sim.tokens_issued == 2


async def test_wrong_secret_is_an_authentication_error_without_the_secret(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    secret = "wrong-secret-value-123"
    auth = classic(sim, http, clock, client_secret=secret)
    with pytest.raises(AuthenticationError) as info:
        await auth.token()
    assert "invalid_client" in str(info.value)
    assert "HTTP 400" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in repr(auth)
    assert sim.demo_app.client_secret not in repr(auth)


async def test_entra_wrong_secret_is_401_and_an_authentication_error(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    auth = entra(sim, http, clock, secret="not-it")
    with pytest.raises(AuthenticationError, match="HTTP 401 invalid_client"):
        await auth.token()


async def test_concurrent_callers_share_one_failure(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    auth = classic(sim, http, clock, client_secret="wrong")
    outcomes = await asyncio.gather(*(auth.token() for _ in range(20)), return_exceptions=True)
    assert all(isinstance(o, AuthenticationError) for o in outcomes)
    assert auth.fetches == 1


async def test_endpoint_errors_are_retryable(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    sim.queue_fault(Fault(status=503, headers=[("retry-after", "7")], path_contains="accesstoken"))
    auth = classic(sim, http, clock)
    with pytest.raises(RetryableError) as info:
        await auth.token()
    assert info.value.retry_after == 7.0
    assert await auth.token()  # the next call asks again


async def test_garbage_token_response_is_an_authentication_error(
    sim: WNSSimulator, http: httpx.AsyncClient, clock: ManualClock
) -> None:
    sim.queue_fault(Fault(status=200, body=b'{"token_type":"bearer"}', path_contains="accesstoken"))
    with pytest.raises(AuthenticationError, match="unreadable"):
        await classic(sim, http, clock).token()


async def test_unreachable_endpoint_is_a_transport_error(
    http: httpx.AsyncClient, clock: ManualClock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    auth = WNSAuth(client_id="ms-app://x", client_secret="s", token_url=f"https://127.0.0.1:{port}/t",
                   http=http, clock=clock)
    with pytest.raises(TransportError):
        await auth.token()


async def test_missing_credentials_are_rejected(http: httpx.AsyncClient) -> None:
    with pytest.raises(AuthenticationError):
        WNSAuth(client_id="", client_secret="s", http=http)


def test_default_endpoints() -> None:
    client = httpx.AsyncClient()
    try:
        assert WNSAuth(client_id="ms-app://x", client_secret="s", http=client).token_url == (
            "https://login.live.com/accesstoken.srf"
        )
        assert WNSAuth(client_id="id", client_secret="s", tenant_id="t1", http=client).token_url == (
            "https://login.microsoftonline.com/t1/oauth2/v2.0/token"
        )
    finally:
        asyncio.run(client.aclose())
