"""``Notification.dedupe_id``: the library sends no collapse identifier unless the caller sets
one; when set (the server sets one per send), each provider carries it where a repeated
delivery replaces the shown notification."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pushgate.notification import Notification
from pushgate.providers.apns.payload import build_payload as apns_payload
from pushgate.providers.fcm.payload import build_message as fcm_message
from pushgate.providers.webpush.payload import build_payload as webpush_payload
from pushgate.providers.wns.payload import build_payload as wns_payload


def places(n: Notification) -> dict[str, object]:
    apns = apns_payload(n, bundle_id="com.example.app")
    fcm = fcm_message(n)
    web = webpush_payload(n)
    wns = dict(wns_payload(n).headers)
    return {
        "apns-collapse-id": apns.collapse_id,
        "fcm android tag": fcm.get("android", {}).get("notification", {}).get("tag"),
        "fcm android collapse_key": fcm.get("android", {}).get("collapse_key"),
        "fcm apns-collapse-id": fcm.get("apns", {}).get("headers", {}).get("apns-collapse-id"),
        "webpush Topic": web.topic,
        "webpush tag": json.loads(web.plaintext).get("tag"),
        "wns X-WNS-Tag": wns.get("X-WNS-Tag"),
    }


def test_without_a_collapse_id_the_library_sends_none() -> None:
    assert set(places(Notification(title="t", body="b")).values()) == {None}


def test_a_dedupe_id_is_carried_by_every_provider_but_never_as_fcm_collapse_key() -> None:
    found = places(Notification(title="t", body="b", dedupe_id="AbC-_123xyz09876"))
    assert found.pop("fcm android collapse_key") is None
    assert set(found.values()) == {"AbC-_123xyz09876"}


def test_the_callers_collapse_key_wins_over_a_dedupe_id() -> None:
    found = places(Notification(title="t", body="b", collapse_key="sale", dedupe_id="AbCd1234"))
    assert set(found.values()) == {"sale"}


@pytest.mark.parametrize("bad", ["x" * 17, "has space", "a+b/c="])
def test_a_dedupe_id_fits_every_provider(bad: str) -> None:
    with pytest.raises(ValidationError):
        Notification(title="t", dedupe_id=bad)
