"""Which endpoint hosts the server's registry accepts: ``providers.<name>.allowed_hosts``
adds push services to the built-in ones, and a configured ``base_url``'s host is one of them.

Adding a private push service (or a simulator) must not stop real browsers from
subscribing: a Chrome subscription stays acceptable whatever is added (README,
"Configuration"; docs/protocols/webpush.md §1.3).
"""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pushgate.registry import ValidationError
from pushgate.registry.validation import validate_token
from pushgate.service.components import validation_policy
from pushgate.service.settings import Settings

CHROME = "https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bH"
EDGE_WNS = "https://db5.notify.windows.com/?token=AwYAAAB"


def keys() -> dict[str, str]:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)
    return {"p256dh": base64.urlsafe_b64encode(point).decode().rstrip("="),
            "auth": base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")}


def settings(**providers: dict[str, Any]) -> Settings:
    return Settings.model_validate({"providers": providers})


def accepted(provider: str, token: str, config: Settings) -> bool:
    extra = keys() if provider == "webpush" else {}
    try:
        validate_token(provider, token, policy=validation_policy(config), **extra)
    except ValidationError:
        return False
    return True


def test_allowed_hosts_add_to_the_browsers_push_services() -> None:
    config = settings(webpush={"allowed_hosts": ["push.example.net"]})
    assert accepted("webpush", "https://push.example.net/wpush/abc", config)
    assert accepted("webpush", CHROME, config)
    assert accepted("webpush", "https://web.push.apple.com/QGr", config)
    assert not accepted("webpush", "https://evil.example/wpush/abc", config)


def test_allowed_hosts_add_to_microsofts_hosts() -> None:
    config = settings(wns={"allowed_hosts": ["127.0.0.1:9444"]})
    assert accepted("wns", "https://127.0.0.1:9444/?token=x", config)
    assert accepted("wns", EDGE_WNS, config)
    assert not accepted("wns", "https://127.0.0.1:9445/?token=x", config)


@pytest.mark.parametrize(("provider", "token"), [
    ("wns", "https://127.0.0.1:9444/?token=x"),
    ("webpush", "https://127.0.0.1:9444/wpush/v1/x"),
])
def test_a_configured_base_url_host_is_allowed(provider: str, token: str) -> None:
    assert not accepted(provider, token, settings())
    assert accepted(provider, token, settings(**{provider: {"base_url": "https://127.0.0.1:9444"}}))
    # Its host and port only: another port of the same host stays refused.
    other = token.replace(":9444", ":9445")
    assert not accepted(provider, other, settings(**{provider: {"base_url": "https://127.0.0.1:9444/"}}))


@pytest.mark.parametrize(("provider", "token", "field"), [
    ("webpush", "https://push.example.org/wpush/abc", "endpoint"),
    ("wns", "https://push.example.org/?token=x", "token"),
])
def test_a_refused_host_names_the_setting_that_allows_it(provider: str, token: str, field: str) -> None:
    extra = keys() if provider == "webpush" else {}
    with pytest.raises(ValidationError) as refused:
        validate_token(provider, token, policy=validation_policy(settings()), **extra)
    assert refused.value.field == field
    assert "'push.example.org' is not an allowed push service" in str(refused.value)
    assert f"providers.{provider}.allowed_hosts" in str(refused.value)
