"""allowed_hosts adds push services to the browsers' (and Microsoft's) own."""

from __future__ import annotations

from pushgate import WNS, WebPush
from pushgate.crypto.vapid import VapidKey


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
