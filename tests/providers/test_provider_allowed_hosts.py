"""allowed_hosts adds push services to the browsers' (and Microsoft's) own, read alike everywhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import pytest

from pushgate import WNS, WebPush
from pushgate.crypto.vapid import VapidKey
from pushgate.errors import ConfigurationError
from pushgate.registry import ValidationError, ValidationPolicy
from pushgate.registry.validation import validate_token
from pushgate.service.settings import ProviderEndpoint


async def test_webpush_allowed_hosts_add_to_the_browsers_services() -> None:
    key = VapidKey.generate()
    async with WebPush(vapid_private_key=key, vapid_subject="mailto:ops@example.com",
                       allowed_hosts=["push.example.net"]) as web:
        assert web.allowed.allows("push.example.net", 443)
        assert web.allowed.allows("fcm.googleapis.com", 443)
        assert web.allowed.allows("updates.push.services.mozilla.com", 443)
        assert not web.allowed.allows("evil.example", 443)


async def test_wns_allowed_hosts_add_to_microsofts_hosts() -> None:
    async with WNS(client_id="ms-app://x", client_secret="s", allowed_hosts=["push.local"]) as wns:
        assert wns.is_allowed("https://push.local/?token=a")
        assert wns.is_allowed("https://db5.notify.windows.com/?token=a")
        assert not wns.is_allowed("https://evil.example/?token=a")


# -- one reading of an entry wherever endpoint hosts are checked -----------------------
#
# The registry (at registration), the Web Push client and the WNS client (before each
# request) must agree: a device the registry takes is one the client calls, and IPv6
# hosts match in every spelling an entry may take (README, "Configuration").

ENTRIES = ["::1", "[::2]", "[::3]:8443", "[2001:DB8::1]:9000", "Push.Example.NET", "*.suffix.example:444",
           "127.0.0.1:8443"]
ALLOWED = [
    "https://[::1]/p", "https://[::1]:443/p", "https://[0:0:0:0:0:0:0:1]/p", "https://[::2]/p",
    "https://[::3]:8443/p", "https://[2001:db8::1]:9000/p", "https://[2001:0DB8:0:0::1]:9000/p",
    "https://push.example.net/p", "https://PUSH.example.net./p", "https://a.Suffix.example:444/p",
    "https://127.0.0.1:8443/p",
]
REFUSED = [
    "https://[::1]:8443/p", "https://[::3]/p", "https://[::4]/p", "https://[2001:db8::1]/p",
    "https://suffix.example:444/p", "https://a.suffix.example/p", "https://127.0.0.1/p",
    "https://[::ffff:127.0.0.1]:8443/p",  # an IPv4-mapped address is not the IPv4 host
]


def _registry(entries: Sequence[str]) -> Callable[[str], bool]:
    policy = ValidationPolicy.with_hosts(wns=entries)

    def allowed(url: str) -> bool:
        try:
            validate_token("wns", url, policy=policy)
        except ValidationError:
            return False
        return True

    return allowed


@pytest.mark.parametrize("url", ALLOWED + REFUSED)
async def test_registry_and_clients_read_entries_alike(url: str) -> None:
    expected = url in ALLOWED
    parts = urlsplit(url)
    async with WebPush(vapid_private_key=VapidKey.generate(), vapid_subject="mailto:ops@example.com",
                       allowed_hosts=ENTRIES) as web, \
            WNS(client_id="ms-app://x", client_secret="s", allowed_hosts=ENTRIES) as wns:
        assert _registry(ENTRIES)(url) is expected, "registry"
        assert wns.is_allowed(url) is expected, "wns"
        assert web.allowed.allows(parts.hostname or "", parts.port or 443) is expected, "webpush"


@pytest.mark.parametrize("base_url", ["https://[::1]:9444", "https://[::1]:9444/"])
async def test_an_ipv6_base_url_host_is_allowed(base_url: str) -> None:
    channel = "https://[::1]:9444/?token=a"
    async with WNS(client_id="ms-app://x", client_secret="s", base_url=base_url) as wns:
        assert wns.is_allowed(channel)
        assert not wns.is_allowed("https://[::1]/?token=a")
    assert _registry(ProviderEndpoint(base_url=base_url).added_hosts())(channel)


@pytest.mark.parametrize("entry", ["[::1", "[::1]x", "::g", "*.[::1]", "*.::1", "[push.example]", ":80", ""])
async def test_malformed_entries_are_refused_by_the_clients(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="allowed_hosts"):
        WNS(client_id="ms-app://x", client_secret="s", allowed_hosts=[entry])
    with pytest.raises(ValueError, match="allowed_hosts"):
        WebPush(vapid_private_key=VapidKey.generate(), vapid_subject="mailto:ops@example.com",
                allowed_hosts=[entry])
