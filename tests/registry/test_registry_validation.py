"""Token and subscription validation: errors name the field; values come back normalized."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pushgate.registry import ValidationError, ValidationPolicy
from pushgate.registry.validation import (
    host_allowed,
    parse_subscription,
    validate_locale,
    validate_tags,
    validate_timezone,
    validate_token,
)


def b64url(data: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if padded else text.rstrip("=")


def p256dh_point() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def field_of(call: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ValidationError) as exc:
        call(*args, **kwargs)
    assert exc.value.field in str(exc.value)
    return exc.value.field


def test_apns_tokens() -> None:
    assert validate_token("apns", "AB" * 32)[1] == "ab" * 32
    assert validate_token("apns", "ab" * 50)[1] == "ab" * 50  # longer tokens are allowed
    assert field_of(validate_token, "apns", "zz" * 32) == "token"
    assert field_of(validate_token, "apns", "a" * 63) == "token"  # odd length
    assert field_of(validate_token, "apns", "ab" * 8) == "token"  # too short
    assert field_of(validate_token, "apns", "ab" * 101) == "token"  # too long
    assert field_of(validate_token, "apns", "") == "token"


def test_fcm_tokens() -> None:
    token = "dGVzdA:APA91b" + "x" * 140
    assert validate_token("fcm", token)[1] == token
    assert field_of(validate_token, "fcm", "short") == "token"
    assert field_of(validate_token, "fcm", "has spaces in it, not a token at all") == "token"


def test_unknown_provider() -> None:
    assert field_of(validate_token, "gcm", "x" * 40) == "provider"


def test_webpush_subscription_keys_are_checked_and_normalized() -> None:
    point, secret = p256dh_point(), os.urandom(16)
    endpoint = "https://fcm.googleapis.com/fcm/send/abc"
    provider, token, p256dh, auth = validate_token(
        "webpush", endpoint, p256dh=b64url(point, padded=True), auth=b64url(secret, padded=True)
    )
    assert (provider, token, p256dh, auth) == ("webpush", endpoint, b64url(point), b64url(secret))
    assert field_of(validate_token, "webpush", endpoint, p256dh=None, auth=b64url(secret)) == "p256dh"
    assert field_of(validate_token, "webpush", endpoint, p256dh=b64url(point), auth=None) == "auth"
    not_on_curve = b"\x04" + b"\x01" * 64
    compressed = b"\x02" + point[1:33]
    for bad in (b64url(not_on_curve), b64url(compressed), "not base64!"):
        assert field_of(validate_token, "webpush", endpoint, p256dh=bad, auth=b64url(secret)) == "p256dh"
    short_auth = b64url(os.urandom(12))
    assert field_of(validate_token, "webpush", endpoint, p256dh=b64url(point), auth=short_auth) == "auth"


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",  # not https
        "https://evil.example.com/push",  # not a push service
        "https://fcm.googleapis.com:8443/fcm/send/abc",  # not port 443
        "https://user:pw@fcm.googleapis.com/x",  # credentials
        "https://169.254.169.254/latest/meta-data",  # SSRF classic
        "https://notify.windows.com.evil.com/x",  # suffix trick
        "https://[::1/x",  # unparsable
    ],
)
def test_webpush_endpoints_outside_the_allow_list_are_refused(endpoint: str) -> None:
    keys = {"p256dh": b64url(p256dh_point()), "auth": b64url(os.urandom(16))}
    assert field_of(validate_token, "webpush", endpoint, **keys) == "endpoint"


def test_allow_list_entries() -> None:
    allowed = ["web.push.apple.com", "*.notify.windows.com", "127.0.0.1:8443"]
    assert host_allowed("web.push.apple.com", 443, allowed)
    assert host_allowed("WNS2-PAR02P.notify.windows.com", 443, allowed)
    assert not host_allowed("notify.windows.com", 443, allowed)
    assert host_allowed("127.0.0.1", 8443, allowed)
    assert not host_allowed("127.0.0.1", 443, allowed)
    assert not host_allowed("web.push.apple.com", 8443, allowed)


def test_policy_admits_a_local_simulator() -> None:
    policy = ValidationPolicy.with_hosts(webpush=["127.0.0.1:9443"], wns=["127.0.0.1:9444"])
    keys = {"p256dh": b64url(p256dh_point()), "auth": b64url(os.urandom(16))}
    assert validate_token("webpush", "https://127.0.0.1:9443/wpush/v1/x", policy=policy, **keys)[1]
    assert validate_token("wns", "https://127.0.0.1:9444/?token=x", policy=policy)[1]
    # Added to the browsers' push services, not replacing them.
    assert validate_token("webpush", "https://fcm.googleapis.com/fcm/send/a", policy=policy, **keys)[1]
    other_port = "https://127.0.0.1:9445/wpush/v1/x"
    assert field_of(validate_token, "webpush", other_port, policy=policy, **keys) == "endpoint"


def test_wns_channels() -> None:
    uri = "https://db5.notify.windows.com/?token=AwYAAAB"
    assert validate_token("wns", uri)[1] == uri
    assert field_of(validate_token, "wns", "https://example.com/?token=x") == "token"
    assert field_of(validate_token, "wns", "http://db5.notify.windows.com/?token=x") == "token"


def test_parse_subscription() -> None:
    subscription = {"endpoint": "https://e/x", "expirationTime": None, "keys": {"p256dh": "P", "auth": "A"}}
    assert parse_subscription(subscription) == ("https://e/x", "P", "A")
    assert parse_subscription('{"endpoint": "https://e/x", "keys": {}}') == ("https://e/x", None, None)
    assert field_of(parse_subscription, "{broken") == "subscription"
    assert field_of(parse_subscription, {"keys": {}}) == "endpoint"
    assert field_of(parse_subscription, {"endpoint": "https://e", "keys": "x"}) == "keys"


def test_tags_locales_timezones() -> None:
    assert validate_tags(["a", "b", "a"]) == ["a", "b"]
    assert field_of(validate_tags, ["ok", " "]) == "tags"
    assert field_of(validate_tags, ["x" * 101]) == "tags"
    assert field_of(validate_tags, [f"t{i}" for i in range(101)]) == "tags"
    assert field_of(validate_tags, "abc") == "tags"
    assert validate_locale("pt_BR") == "pt-BR"
    assert field_of(validate_locale, "portuguese!") == "locale"
    assert validate_timezone("Europe/Paris") == "Europe/Paris"
    assert field_of(validate_timezone, "Mars/Olympus") == "timezone"
