"""The SSRF rules of webhook URLs, and the client that applies them on every connection.

Addresses come from an injected resolver where a test needs a name to
resolve a certain way (public, or public then loopback: a DNS rebinding);
the connections are real, to a real HTTPS receiver on loopback.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from pushgate.service.webhook_guard import AddressPolicy, Resolver, UnsafeURL
from pushgate.workers.webhook_http import webhook_client
from tests.webhooks.receiver import Receiver

PUBLIC = "93.184.215.14"  # a global unicast address (nothing is sent to it: resolvers are injected)


def answering(*answers: list[str]) -> tuple[Resolver, list[str]]:
    """A resolver giving ``answers`` in turn (the last one from then on), and the names it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return resolve, asked


@pytest.mark.parametrize(("url", "why"), [
    ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("https://10.20.30.40/hook", "10.20.30.40 is a private address"),
    ("https://192.168.1.5:8443/hook", "a private address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://[fd00:ec2::254]/", "a cloud metadata address"),
    ("https://[::1]/hook", "::1 is a loopback address"),
    ("https://[fe80::1]/hook", "a link-local address"),
    ("https://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1 is a loopback address"),
    ("https://100.64.0.1/hook", "not a public address"),
    ("https://0.0.0.0/hook", "the unspecified address"),
    ("https://224.0.0.1/hook", "a multicast address"),
    ("https://localhost/hook", "localhost resolves to"),
    ("http://example.com/hook", "must use https"),
    ("https://user:pw@example.com/hook", "user name or password"),
    ("ftp://example.com/hook", "https:// URL"),
    ("https:///nohost", "https:// URL"),
])
async def test_forbidden_urls_are_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(UnsafeURL) as refused:
        await AddressPolicy().check_url(url)  # the system resolver: localhost is loopback
    assert why in str(refused.value)


async def test_a_name_is_refused_when_any_of_its_addresses_is_not_public() -> None:
    resolve, _ = answering([PUBLIC, "10.0.0.7"])
    refusal = re.escape("hooks.example.com resolves to 10.0.0.7, a private address")
    with pytest.raises(UnsafeURL, match=refusal):
        await AddressPolicy().check_url("https://hooks.example.com/in", resolve)


async def test_a_public_name_passes_and_the_allow_list_admits_hosts_and_networks() -> None:
    resolve, _ = answering([PUBLIC])
    assert await AddressPolicy().check_url("https://hooks.example.com/in", resolve) == \
        "https://hooks.example.com/in"
    policy = AddressPolicy.from_entries(["127.0.0.0/8", "[::1]", "hooks.internal"])
    assert await policy.check_url("https://127.0.0.1:9000/x")
    assert await policy.check_url("https://[::1]:9000/x")
    assert await policy.check_url("http://hooks.internal:8080/x")  # an allowed host may use http
    with pytest.raises(UnsafeURL, match=re.escape("10.0.0.1 is a private address")):
        await policy.check_url("https://10.0.0.1/x")


async def _post(client: httpx.AsyncClient, url: str) -> httpx.Response:
    async with client:
        return await client.post(url, content=b"{}")


async def test_dns_rebinding_is_refused_at_connect_time(receiver: Receiver, ca_file: Path) -> None:
    """The name resolves to a public address when the URL is checked and to loopback when the
    worker connects: the connection is refused, and nothing reaches the loopback server."""
    resolve, asked = answering([PUBLIC], ["127.0.0.1"])
    policy = AddressPolicy()
    url = receiver.url(host="localhost")
    assert await policy.check_url(url, resolve) == url  # stored: it looked public
    client = webhook_client(policy, ca_file=str(ca_file), resolver=resolve)
    refusal = re.escape("localhost resolves to 127.0.0.1, a loopback address")
    with pytest.raises(httpx.ConnectError, match=refusal):
        await _post(client, url)
    assert asked == ["localhost", "localhost"]  # resolved again for the connection
    assert receiver.received == []


async def test_the_connection_goes_to_the_checked_address_with_the_names_tls(
    receiver: Receiver, ca_file: Path,
) -> None:
    """With loopback allowed, the same name reaches the receiver: the TCP connection is opened to
    the address the resolver gave, and TLS verifies the certificate against the URL's name."""
    resolve, asked = answering(["127.0.0.1"])
    client = webhook_client(AddressPolicy.from_entries(["127.0.0.0/8"]), ca_file=str(ca_file),
                            resolver=resolve)
    answer = await _post(client, receiver.url(host="localhost"))
    assert answer.status_code == 200
    assert asked == ["localhost"]
    assert receiver.received[0].headers["host"] == f"localhost:{receiver.port}"


@pytest.mark.parametrize("mapped", ["::ffff:127.0.0.1", "169.254.169.254", "0.0.0.0"])
async def test_every_connection_is_checked_whatever_the_resolver_says(
    receiver: Receiver, ca_file: Path, mapped: str,
) -> None:
    resolve, _ = answering([mapped])
    client = webhook_client(AddressPolicy(), ca_file=str(ca_file), resolver=resolve)
    with pytest.raises(httpx.ConnectError, match="webhooks may only reach public addresses"):
        await _post(client, receiver.url(host="localhost"))
    assert receiver.received == []


async def test_redirects_are_not_followed(receiver: Receiver, ca_file: Path) -> None:
    receiver.answers = [302]
    client = webhook_client(AddressPolicy.from_entries(["127.0.0.1"]), ca_file=str(ca_file))
    answer = await _post(client, receiver.url(host="127.0.0.1"))
    assert answer.status_code == 302
    assert receiver.redirected == 0
    assert len(receiver.received) == 1


