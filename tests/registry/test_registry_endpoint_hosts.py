"""The hosts of an app's own credentials at registration, on rows as they were stored.

The API checks ``allowed_hosts`` entries when credentials are stored, but the
registry's ``set_credentials`` keeps any list of strings (rows written by the
command line or before the check): an entry nobody can read allows nothing, and
never turns a registration into an error.
"""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pushgate.registry import Database, DeviceSpec, ValidationError, create_app, register_device
from pushgate.registry.apps import set_credentials
from pushgate.registry.endpoint_hosts import credential_hosts


def keys() -> dict[str, str]:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)
    encode = base64.urlsafe_b64encode
    return {"p256dh": encode(point).decode().rstrip("="), "auth": encode(os.urandom(16)).decode().rstrip("=")}


def test_an_unreadable_stored_entry_allows_nothing_and_breaks_nothing(database: Database) -> None:
    config = {"client_id": "ms-app://s-1-15-2-1", "client_secret": "secret-for-tests",
              "allowed_hosts": ["[::1", "wns.shop.example", "*.::1"], "base_url": "https://[::9]:9444"}
    with database.session() as session:
        app, _ = create_app(session, "shop")
        set_credentials(session, app.id, "wns", config)
    assert credential_hosts(config) == ("wns.shop.example", "[::9]:9444")
    with database.session() as session:
        for channel in ("https://wns.shop.example/?t=1", "https://[::9]:9444/?t=2"):
            assert register_device(session, app.id, DeviceSpec("wns", channel)).token == channel
        with pytest.raises(ValidationError, match="allowed_hosts of the app's wns credentials"):
            register_device(session, app.id, DeviceSpec("wns", "https://[::1]/?t=3"))


def test_an_unreadable_stored_base_url_adds_nothing() -> None:
    config = {"allowed_hosts": ["wns.shop.example"], "base_url": "https://[::1"}
    assert credential_hosts(config) == ("wns.shop.example",)


def test_a_web_push_base_url_with_user_info_adds_its_host_only(database: Database) -> None:
    config = {"vapid_private_key": "unused-here", "vapid_subject": "mailto:ops@example.com",
              "base_url": "https://relay:pw@Push.Shop.example:8443/prefix"}
    with database.session() as session:
        app, _ = create_app(session, "shop")
        set_credentials(session, app.id, "webpush", config)
    with database.session() as session:
        endpoint = "https://push.shop.example:8443/wpush/a"
        device = register_device(session, app.id, DeviceSpec("webpush", endpoint, **keys()))
    assert device.token == endpoint
