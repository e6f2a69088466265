"""Fixtures for the Web Push tests: a running simulator, a client pointed at
it over TLS, and a raw request helper for the simulator's own checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from pushgate.crypto import ece
from pushgate.crypto.vapid import VapidKey, b64url_decode
from pushgate.providers.webpush.auth import Vapid
from pushgate.providers.webpush.client import WebPush
from pushgate.simulators._base import ManualClock
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.webpush import WebPushSimulator

SUBJECT = "mailto:ops@example.com"


@pytest.fixture
def clock() -> ManualClock:
    # Starts at the real time so independent clients (pywebpush signs with
    # time.time()) agree with the simulator until a test moves it.
    return ManualClock()


@pytest.fixture
def ca_file(local_ca: LocalCA, tmp_path: Path) -> Path:
    return local_ca.write_ca(tmp_path / "ca.pem")


@pytest.fixture
async def sim(local_ca: LocalCA, clock: ManualClock) -> AsyncIterator[WebPushSimulator]:
    simulator = WebPushSimulator(ca=local_ca, clock=clock)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
def vapid_key() -> VapidKey:
    return VapidKey.generate()


@pytest.fixture
def allowed(sim: WebPushSimulator) -> list[str]:
    return [urlsplit(sim.url).netloc]


@pytest.fixture
async def client(
    sim: WebPushSimulator, vapid_key: VapidKey, ca_file: Path, clock: ManualClock, allowed: list[str]
) -> AsyncIterator[WebPush]:
    push = WebPush(
        vapid_private_key=vapid_key,
        vapid_subject=SUBJECT,
        allowed_hosts=allowed,
        ca_file=ca_file,
        clock=clock,
        retry_backoff=0.001,
    )
    yield push
    await push.aclose()


@pytest.fixture
async def http(local_ca: LocalCA) -> AsyncIterator[httpx.AsyncClient]:
    """An independent HTTP/1.1 + HTTP/2 client (httpx) for the simulator's own tests."""
    async with httpx.AsyncClient(verify=local_ca.client_context(alpn=()), http2=True) as session:
        yield session


Raw = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def raw_push(http: httpx.AsyncClient, sim: WebPushSimulator, vapid_key: VapidKey, clock: ManualClock) -> Raw:
    """POST an encrypted message to a subscription, every part overridable.

    ``headers`` entries replace the defaults; a ``None`` value drops one.
    """
    vapid = Vapid(vapid_key, SUBJECT, clock=clock)

    async def push(
        subscription: dict[str, Any],
        plaintext: bytes = b'{"title":"hi"}',
        *,
        headers: dict[str, str | None] | None = None,
        body: bytes | None = None,
        vapid_header: bool = True,
    ) -> httpx.Response:
        keys = subscription["keys"]
        if body is None:
            body = ece.encrypt(plaintext, b64url_decode(keys["p256dh"]), b64url_decode(keys["auth"]))
        sent: dict[str, str | None] = {
            "ttl": "60",
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
            "authorization": (await vapid.header(sim.origin)) if vapid_header else None,
        }
        sent.update(headers or {})
        return await http.post(
            subscription["endpoint"],
            content=body,
            headers={k: v for k, v in sent.items() if v is not None},
        )

    return push
