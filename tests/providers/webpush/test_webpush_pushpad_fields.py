"""The web notification fields Pushpad users expect, under the JSON keys the service worker reads."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pushgate import Notification
from pushgate.providers.webpush.payload import build_json, build_payload


def test_each_field_has_its_json_key() -> None:
    note = Notification(
        title="Sale", body="Today only", badge=4, badge_image="https://example.com/badge.png",
        require_interaction=True, renotify=True, starred=True, custom_data="order-42",
        custom_metrics=["promo", "winter"],
    )
    shown = json.loads(build_payload(note).plaintext)
    assert shown == {
        "title": "Sale", "body": "Today only", "badge": "https://example.com/badge.png", "app_badge": 4,
        "require_interaction": True, "renotify": True, "starred": True, "custom_data": "order-42",
        "custom_metrics": ["promo", "winter"],
    }


def test_fields_left_out_or_false_are_absent() -> None:
    shown = build_json(Notification(body="x", require_interaction=False, starred=False))
    assert shown == {"body": "x"}


def test_custom_data_alone_is_something_to_deliver() -> None:
    Notification(custom_data="x").require_content()


def test_at_most_three_custom_metrics() -> None:
    with pytest.raises(ValidationError, match="custom_metrics"):
        Notification(body="x", custom_metrics=["a", "b", "c", "d"])
