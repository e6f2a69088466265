"""Device tokens are each provider's rule: ``ProviderSpec.check_token`` and its companions."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pushgate.errors import InvalidToken
from pushgate.providers import (
    PROVIDER_NAMES,
    DeviceToken,
    TokenError,
    provider_spec,
    subscription_spec,
)

NO_HOSTS: tuple[str, ...] = ()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def keys() -> tuple[str, str]:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )
    return b64url(point), b64url(os.urandom(16))


def refused(name: str, device: DeviceToken, hosts: tuple[str, ...] = NO_HOSTS) -> str:
    with pytest.raises(TokenError) as info:
        provider_spec(name).check_token(device, hosts)
    assert isinstance(info.value, InvalidToken)  # the library's error for a malformed token
    return info.value.field


def test_apns_tokens_are_hex_and_stored_in_lower_case() -> None:
    spec = provider_spec("apns")
    assert spec.check_token(DeviceToken(" " + "AB" * 32), NO_HOSTS) == DeviceToken("ab" * 32)
    assert spec.normalize_token("AB" * 32) == "ab" * 32
    assert refused("apns", DeviceToken("zz" * 32)) == "token"
    assert refused("apns", DeviceToken("a" * 63)) == "token"


def test_fcm_tokens_are_stored_as_given() -> None:
    token = "dGVzdA:APA91b" + "x" * 140
    assert provider_spec("fcm").check_token(DeviceToken(token), NO_HOSTS) == DeviceToken(token)
    assert provider_spec("fcm").normalize_token("AbC") == "AbC"
    assert refused("fcm", DeviceToken("short")) == "token"


def test_wns_channels_must_be_on_the_allow_list_given() -> None:
    uri = "https://db5.notify.windows.com/?token=AwYAAAB"
    spec = provider_spec("wns")
    assert spec.default_hosts is not None
    assert spec.check_token(DeviceToken(uri), spec.default_hosts) == DeviceToken(uri)
    assert refused("wns", DeviceToken(uri), ("127.0.0.1:9444",)) == "token"
    assert spec.check_token(DeviceToken("https://127.0.0.1:9444/?token=x"), ("127.0.0.1:9444",))


def test_web_push_checks_endpoint_and_keys_and_normalizes_the_keys() -> None:
    spec = provider_spec("webpush")
    assert spec.default_hosts is not None
    p256dh, auth = keys()
    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/abc"
    stored = spec.check_token(DeviceToken(endpoint, p256dh + "=", auth + "=="), spec.default_hosts)
    assert stored == DeviceToken(endpoint, p256dh, auth)
    assert refused("webpush", DeviceToken("https://evil.example/x", p256dh, auth), spec.default_hosts) == (
        "endpoint"
    )
    assert refused("webpush", DeviceToken(endpoint, None, auth), spec.default_hosts) == "p256dh"
    assert refused("webpush", DeviceToken(endpoint, p256dh, b64url(b"short")), spec.default_hosts) == "auth"


def test_only_web_push_devices_are_browser_subscriptions() -> None:
    assert subscription_spec() is provider_spec("webpush")
    takers = [name for name in PROVIDER_NAMES if provider_spec(name).parse_subscription is not None]
    assert takers == ["webpush"]
    parse = subscription_spec().parse_subscription
    assert parse is not None
    assert parse('{"endpoint": "https://e/x", "keys": {"p256dh": "P"}}') == DeviceToken("https://e/x", "P")
    with pytest.raises(TokenError) as info:
        parse({"keys": {}})
    assert info.value.field == "endpoint"


def test_the_web_push_client_and_the_registry_share_one_host_list() -> None:
    from pushgate.providers.webpush.subscription import DEFAULT_ALLOWED_HOSTS, AllowList
    from pushgate.registry import ValidationPolicy

    hosts = provider_spec("webpush").default_hosts
    assert hosts is not None
    assert ValidationPolicy().hosts_for("webpush") == hosts == DEFAULT_ALLOWED_HOSTS
    # The legacy GCM endpoint is accepted at registration, so the client must call it too.
    assert "android.googleapis.com" in hosts
    assert AllowList(DEFAULT_ALLOWED_HOSTS).allows("android.googleapis.com", 443)
    assert ValidationPolicy().hosts_for("apns") == ()
    assert ValidationPolicy.with_hosts(webpush=["127.0.0.1:9"], wns=None).hosts_for("wns") == (
        "*.notify.windows.com",
    )
