"""Web Push devices: the browser's subscription, checked before it is stored.

A subscription is the endpoint the worker will POST to (on the allow-list:
the SSRF guard) plus the user agent's keys (RFC 8291 §3): ``p256dh`` an
uncompressed P-256 point, ``auth`` a 16-byte secret, stored as unpadded
base64url whatever padding the page sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pushgate.providers._spec import DeviceToken, TokenError
from pushgate.providers._tokens import b64url, b64url_decode, check_endpoint

__all__ = ["AUTH_BYTES", "P256DH_BYTES", "check_token", "parse_subscription"]

# RFC 8291 §3: p256dh is an uncompressed P-256 point (65 bytes), auth 16 bytes.
P256DH_BYTES = 65
AUTH_BYTES = 16


def check_token(device: DeviceToken, allowed_hosts: tuple[str, ...]) -> DeviceToken:
    """The endpoint on the allow-list, both keys well-formed; keys as unpadded base64url."""
    endpoint = check_endpoint(device.token, allowed_hosts, "endpoint")
    p256dh, auth = check_keys(device.p256dh, device.auth)
    return DeviceToken(endpoint, p256dh, auth)


def check_keys(p256dh: str | None, auth: str | None) -> tuple[str, str]:
    """RFC 8291 §3 keys → both as unpadded base64url."""
    if not p256dh:
        raise TokenError("p256dh", "a Web Push subscription needs keys.p256dh")
    if not auth:
        raise TokenError("auth", "a Web Push subscription needs keys.auth")
    point = b64url_decode(p256dh, "p256dh")
    if len(point) != P256DH_BYTES or point[0] != 0x04:
        raise TokenError("p256dh", "must be an uncompressed P-256 point (65 bytes)")
    # Imported here: cryptography costs an idle server ~8 MB; this runs per Web Push registration.
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise TokenError("p256dh", "is not a point on the P-256 curve") from None
    secret = b64url_decode(auth, "auth")
    if len(secret) != AUTH_BYTES:
        raise TokenError("auth", f"must decode to {AUTH_BYTES} bytes (got {len(secret)})")
    return b64url(point), b64url(secret)


def parse_subscription(subscription: Mapping[str, Any] | str) -> DeviceToken:
    """``PushSubscription.toJSON()`` (dict or JSON text) → its endpoint and keys, unvalidated."""
    if isinstance(subscription, str):
        try:
            subscription = json.loads(subscription)
        except ValueError:
            raise TokenError("subscription", "not JSON") from None
    if not isinstance(subscription, Mapping):
        raise TokenError("subscription", "must be an object")
    endpoint = subscription.get("endpoint")
    if not isinstance(endpoint, str):
        raise TokenError("endpoint", "a subscription needs an endpoint URL")
    keys = subscription.get("keys") or {}
    if not isinstance(keys, Mapping):
        raise TokenError("keys", "must be an object with p256dh and auth")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    return DeviceToken(
        endpoint,
        p256dh if isinstance(p256dh, str) else None,
        auth if isinstance(auth, str) else None,
    )
