"""The Web Push :class:`ProviderSpec`: credentials, client from stored credentials, payload, tokens."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from pushgate.notification import Notification
from pushgate.providers._spec import Endpoint, ProviderSpec
from pushgate.providers.webpush import credentials, tokens

if TYPE_CHECKING:
    from pushgate.providers._base import Provider

# The browsers' push services (docs/protocols/webpush.md §1.3): the one list
# both the client (before sending) and the registry (at registration) use,
# so a subscription the registry accepts is one the client will call. An
# entry without a port allows port 443 only; "*.suffix" allows any subdomain
# (not the suffix itself).
DEFAULT_HOSTS: Final[tuple[str, ...]] = (
    "fcm.googleapis.com",  # Chrome and Chromium browsers (Opera, Samsung Internet, Brave, …)
    # The legacy GCM endpoint (/gcm/send/…) of subscriptions Chrome made before
    # VAPID. The registry has always accepted it, so such devices may be stored;
    # listed so they are sent to and the push service's answer (404/410: dead)
    # retires them. A client refusal would be a config failure, which pauses
    # the app's whole Web Push lane.
    "android.googleapis.com",
    "updates.push.services.mozilla.com",  # Firefox (autopush)
    "*.push.services.mozilla.com",
    "web.push.apple.com",  # Safari 16+, iOS/iPadOS 16.4+ home-screen apps
    "*.push.apple.com",
    "*.notify.windows.com",  # Edge
)


def build_client(
    config: Mapping[str, Any], endpoint: Endpoint, *, concurrency: int, max_retries: int
) -> Provider[Any, Any]:
    from pushgate.providers.webpush.client import WebPush

    # Endpoints come from the subscriptions, so base_url names a push service of one's own
    # (a proxy, a simulator) whose host is allowed beside the browsers' (docs/protocols/webpush.md §1.3).
    return WebPush(
        vapid_private_key=config["vapid_private_key"], vapid_subject=config["vapid_subject"],
        allowed_hosts=endpoint.allowed_hosts, base_url=endpoint.base_url, ca_file=endpoint.ca_file,
        concurrency=concurrency, max_retries=max_retries, request_timeout=endpoint.request_timeout,
    )


# The gateway's workers add {"pushgate": {"send": <send id, 36 characters>}} to every Web Push
# message (docs/websdk.md §4.1): the size is checked with it, so what is accepted still fits.
SEND_MARKER_ROOM = {"pushgate": {"send": "0" * 36}}


def check_payload(notification: Notification, config: Mapping[str, Any], now: datetime | None) -> None:
    from pushgate.providers.webpush.payload import build_payload

    marked = notification.model_copy(update={"webpush": {**(notification.webpush or {}), **SEND_MARKER_ROOM}})
    build_payload(marked, now=now)


def client_token(token: str, p256dh: str | None, auth: str | None) -> dict[str, Any]:
    """A stored subscription as the browser's PushSubscription JSON, which the client takes."""
    return {"endpoint": token, "keys": {"p256dh": p256dh or "", "auth": auth or ""}}


def credential_audience(endpoint: str) -> str:
    """The push service a subscription's endpoint is answered by: its origin, which is
    the ``aud`` of the VAPID JWT sent there (RFC 8292 §2; docs/protocols/webpush.md §2)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


SPEC = ProviderSpec(
    name=credentials.NAME,
    fields=credentials.FIELDS,
    required=credentials.REQUIRED,
    check_stored=credentials.check_stored,
    validate=credentials.validate,
    build_client=build_client,
    check_payload=check_payload,
    check_token=tokens.check_token,
    key_file_fields=credentials.key_file_fields,
    parse_subscription=tokens.parse_subscription,
    default_hosts=DEFAULT_HOSTS,
    client_token=client_token,
    credential_audience=credential_audience,
)
