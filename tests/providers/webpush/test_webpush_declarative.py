"""The Declarative Web Push form (webpush.declarative), and that the default stays the worker's JSON."""

from __future__ import annotations

import json

import pytest

from pushgate.errors import InvalidNotification
from pushgate.notification import Action, Notification
from pushgate.providers.webpush.payload import build_payload


def _json(notification: Notification) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(build_payload(notification).plaintext)
    return loaded


def test_the_declarative_form_carries_title_navigate_and_the_rest() -> None:
    note = Notification(
        title="Sale", body="50% off", url="https://shop.example/sale", icon="https://shop.example/i.png",
        image="https://shop.example/big.png", badge=3, collapse_key="sale",
        actions=[Action(id="buy", title="Buy", url="https://shop.example/buy"), Action(id="no", title="No")],
        webpush={"declarative": True, "require_interaction": True, "pushgate": {"send": "s1"},
                 "custom_data": "42", "mutable": True},
    )
    assert _json(note) == {
        "web_push": 8030,
        "notification": {
            "title": "Sale", "navigate": "https://shop.example/sale", "body": "50% off", "tag": "sale",
            "image": "https://shop.example/big.png", "icon": "https://shop.example/i.png",
            "require_interaction": True,
            "actions": [{"action": "buy", "title": "Buy", "navigate": "https://shop.example/buy"},
                        {"action": "no", "title": "No", "navigate": "https://shop.example/sale"}],
        },
        "app_badge": 3, "mutable": True, "pushgate": {"send": "s1"}, "custom_data": "42",
    }


def test_declarative_needs_a_url_to_navigate_to() -> None:
    with pytest.raises(InvalidNotification) as caught:
        build_payload(Notification(title="Sale", webpush={"declarative": True}))
    assert caught.value.field == "url"


def test_the_service_worker_json_stays_the_default() -> None:
    plain = _json(Notification(title="Sale", url="https://shop.example/", webpush={"declarative": False}))
    assert plain == {"title": "Sale", "url": "https://shop.example/"}
