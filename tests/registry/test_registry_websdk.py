"""An app's Web SDK settings and the events its browsers report, in the registry (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pushgate.registry import (
    CredentialCipher,
    Database,
    DeviceSpec,
    ValidationError,
    create_app,
    delete_app,
    register_device,
)
from pushgate.registry.engagement import EventKind, ReportedEvent, record_events
from pushgate.registry.models import Send
from pushgate.registry.websdk import (
    configure_web_sdk,
    find_by_public_id,
    normalize_origin,
    origin_allowed,
    sdk_secret,
)
from pushgate.registry.websdk_tables import PushEvent, WebSdkConfig

ENDPOINT = "https://updates.push.services.mozilla.com/wpush/v2/one"
P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"


@pytest.mark.parametrize(("given", "normal"), [
    ("https://Shop.Example.com", "https://shop.example.com"),
    ("https://shop.example.com:443/", "https://shop.example.com"),
    ("http://localhost:8080", "http://localhost:8080"),
    ("http://[::1]:3000", "http://[::1]:3000"),
])
def test_origins_are_compared_as_browsers_send_them(given: str, normal: str) -> None:
    assert normalize_origin(given) == normal


@pytest.mark.parametrize("bad", ["ftp://x.example", "https://x.example/path", "https://u@x.example",
                                 "x.example", "https://x.example:99999", "null"])
def test_what_is_not_an_origin(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_origin(bad)
    assert caught.value.field == "allowed_origins"


def test_settings_secret_sealed_and_found_by_public_id(database: Database) -> None:
    cipher = CredentialCipher("c" * 40)
    with database.session() as session:
        app, _ = create_app(session, "shop")
        config, secret = configure_web_sdk(session, app.id, cipher, allowed_origins=["https://a.example"])
        assert secret is not None
        assert secret not in config.secret
        public_id = config.public_id
    with database.session(write=False) as session:
        found = find_by_public_id(session, public_id)
        assert found is not None
        assert sdk_secret(found, cipher) == secret
        assert origin_allowed(found, "https://a.example")
        assert not origin_allowed(found, "https://b.example")
        assert not origin_allowed(found, None)
        assert find_by_public_id(session, "pk_unknown") is None
        assert find_by_public_id(session, "not-a-public-id") is None


def test_events_need_their_apps_consent_and_go_with_the_app(database: Database) -> None:
    cipher = CredentialCipher(None)
    with database.session() as session:
        app, _ = create_app(session, "shop")
        configure_web_sdk(session, app.id, cipher, allowed_origins=["https://a.example"])
        register_device(session, app.id, DeviceSpec("webpush", ENDPOINT, p256dh=P256DH, auth=AUTH))
        session.add(Send(id="send-1", app_id=app.id, notification={"title": "t"}, target={"all": True},
                         status="done", request_hash="h"))
        session.flush()
        event = ReportedEvent("send-1", EventKind.CLICKED, ENDPOINT, "open")
        assert record_events(session, [event], app_allowed=lambda _app: False) == (0, [])
        assert record_events(session, [event], app_allowed=lambda _app: True) == (1, [app.id])
        assert record_events(session, [event], app_allowed=lambda _app: True) == (0, [app.id])
        with pytest.raises(ValidationError):
            record_events(session, [event] * 101, app_allowed=lambda _app: True)
    with database.session() as session:
        assert session.scalar(sa.select(PushEvent.action)) == "open"
        assert delete_app(session, app.id)
    with database.session(write=False) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PushEvent)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(WebSdkConfig)) == 0
