"""Reading Pushkin request bodies: good items kept with their index, bad ones named, bad bodies refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pushgate.pushkin import mapping, proto
from pushgate.pushkin.requests import (
    BadBody,
    PushkinNotification,
    events_from_json,
    events_from_proto,
    notifications_from_json,
    notifications_from_proto,
)


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_a_quoted_decimal_id_is_the_number() -> None:
    item = {"login_id": "1337", "title": "t", "content": "c"}
    parsed = notifications_from_json(_json({"notifications": [item]}))
    assert parsed.items == [(0, PushkinNotification(1337, "t", "c", None))]


def test_json_notifications_as_pushkins_docs_show_them() -> None:
    body = _json({"notifications": [
        {"login_id": 1337, "title": "Hi User1", "content": "Sent from Pushkin", "screen": "welcome_screen"},
        {"login_id": 1338, "title": "Hi User2", "content": "Also sent from Pushkin"},
    ]})
    parsed = notifications_from_json(body)
    assert parsed.errors == []
    assert parsed.items == [
        (0, PushkinNotification(1337, "Hi User1", "Sent from Pushkin", "welcome_screen")),
        (1, PushkinNotification(1338, "Hi User2", "Also sent from Pushkin", None)),
    ]


@pytest.mark.parametrize(("item", "field", "reason"), [
    ({"title": "t", "content": "c"}, "login_id", "is required"),
    ({"login_id": "13x", "title": "t", "content": "c"}, "login_id", "must be an integer"),
    ({"login_id": 1.5, "title": "t", "content": "c"}, "login_id", "must be an integer"),
    ({"login_id": True, "title": "t", "content": "c"}, "login_id", "must be an integer"),
    ({"login_id": 2**63, "title": "t", "content": "c"}, "login_id", "must be between"),
    ({"login_id": 1, "content": "c"}, "title", "is required"),
    ({"login_id": 1, "title": 5, "content": "c"}, "title", "must be a string"),
    ({"login_id": 1, "title": "t"}, "content", "is required"),
    ({"login_id": 1, "title": "t", "content": "c", "screen": 3}, "screen", "must be a string"),
    ({"login_id": 1, "title": "a\u0000b", "content": "c"}, "title", "control characters"),
    ("not an object", "", "must be an object"),
])
def test_a_bad_json_notification_is_named_and_the_rest_kept(item: Any, field: str, reason: str) -> None:
    good = {"login_id": 1, "title": "t", "content": "c"}
    parsed = notifications_from_json(_json({"notifications": [good, item, good]}))
    assert [index for index, _ in parsed.items] == [0, 2]
    (error,) = parsed.errors
    assert error.index == 1
    assert error.field == "notifications[1]" + (f".{field}" if field else "")
    assert reason in error.reason


@pytest.mark.parametrize(("body", "field"), [
    (b"", "body"), (b"   ", "body"), (b"{not json", "body"), (b"\xff\xfe", "body"), (b"[]", "body"),
    (b'{"notification": []}', "notifications"), (b'{"notifications": {}}', "notifications"),
])
def test_an_unreadable_json_body_is_refused(body: bytes, field: str) -> None:
    with pytest.raises(BadBody) as caught:
        notifications_from_json(body)
    assert caught.value.field == field


def test_proto_notifications_need_login_id_title_and_content() -> None:
    batch = proto.BatchNotificationRequest()
    complete = batch.notifications.add()
    complete.login_id, complete.title, complete.content, complete.screen = 5, "t", "c", "shop"
    untitled = batch.notifications.add()
    untitled.login_id, untitled.content = 6, "c"
    zero = batch.notifications.add()  # 0 and "" are values when set: Pushkin checks presence only
    zero.login_id, zero.title, zero.content = 0, "", ""
    parsed = notifications_from_proto(batch.SerializeToString())
    assert parsed.items == [
        (0, PushkinNotification(5, "t", "c", "shop")), (2, PushkinNotification(0, "", "", None)),
    ]
    assert [(e.index, e.field, e.reason) for e in parsed.errors] == [
        (1, "notifications[1].title", "is required"),
    ]


@pytest.mark.parametrize("body", [b"", b"\xff\xff\xff\xff", b"\x0a\x05\x08"])
def test_an_unreadable_proto_body_is_refused(body: bytes) -> None:
    with pytest.raises(BadBody):
        notifications_from_proto(body)
    with pytest.raises(BadBody):
        events_from_proto(body)


def test_json_events_with_pairs_and_millisecond_timestamps() -> None:
    body = _json({"events": [
        {"user_id": 1337, "event_id": 1, "timestamp": 1458823445000},
        {"user_id": 1338, "event_id": 4001, "timestamp": 1458823448000,
         "pairs": {"languageId": "1", "platformId": "1", "deviceToken": "VD3#fd4",
                   "applicationVersion": "1"}},
        {"user_id": 1338, "event_id": 4006, "timestamp": 1458823448000, "pairs": {"blacklist1": 1}},
        {"user_id": 1, "event_id": 2**31, "timestamp": 0},
        {"user_id": 1, "event_id": 1, "timestamp": -1},
        {"user_id": 1, "event_id": 1, "timestamp": 1, "pairs": {"a": None}},
        {"user_id": 1, "event_id": 1, "timestamp": 1, "pairs": ["a"]},
    ]})
    parsed = events_from_json(body)
    first, login, blacklist = (event for _, event in parsed.items)
    assert first.timestamp == datetime(2016, 3, 24, 12, 44, 5, tzinfo=UTC)
    assert first.pairs == {}
    assert login.pairs["deviceToken"] == "VD3#fd4"
    assert blacklist.pairs == {"blacklist1": "1"}
    assert [(e.index, e.field) for e in parsed.errors] == [
        (3, "events[3].event_id"), (4, "events[4].timestamp"), (5, "events[5].pairs.a"),
        (6, "events[6].pairs"),
    ]


def test_proto_events_and_their_required_pair_fields() -> None:
    batch = proto.BatchEventRequest()
    good = batch.events.add()
    good.user_id, good.event_id, good.timestamp = 9, 1001, 1458823448000
    pair = good.pairs.add()
    pair.key, pair.value = "param", "value"
    no_time = batch.events.add()
    no_time.user_id, no_time.event_id = 9, 1001
    half_pair = batch.events.add()
    half_pair.user_id, half_pair.event_id, half_pair.timestamp = 9, 1001, 1
    half_pair.pairs.add().key = "only a key"
    # A client's runtime refuses to serialize it; a hand-rolled client may still send it.
    parsed = events_from_proto(batch.SerializePartialToString())
    ((index, event),) = parsed.items
    assert (index, event.user_id, event.event_id, event.pairs) == (0, 9, 1001, {"param": "value"})
    assert [(e.index, e.field) for e in parsed.errors] == [
        (1, "events[1].timestamp"), (2, "events[2].pairs[0]"),
    ]


def test_proto_event_pairs_empty_but_present_and_with_control_characters() -> None:
    batch = proto.BatchEventRequest()
    for user_id, key, value in ((1, "", "empty key"), (2, "empty value", ""), (3, "a\u0001b", "v"),
                                (4, "k", "ok"), (5, "k2", "x\u0000")):
        event = batch.events.add()
        event.user_id, event.event_id, event.timestamp = user_id, 1001, 1
        first = event.pairs.add()
        first.key, first.value = "first", "fine\ttab"
        pair = event.pairs.add()
        pair.key, pair.value = key, value  # "" set explicitly: present on the wire
    no_ids = batch.events.add()
    no_ids.timestamp = 1  # user_id and event_id missing: the first is named
    no_event = batch.events.add()
    no_event.user_id = 6
    parsed = events_from_proto(batch.SerializePartialToString())
    assert [(i, e.user_id, e.pairs) for i, e in parsed.items] == [
        (0, 1, {"first": "fine\ttab", "": "empty key"}),
        (1, 2, {"first": "fine\ttab", "empty value": ""}),
        (3, 4, {"first": "fine\ttab", "k": "ok"}),
    ]
    assert [(e.index, e.field, e.reason) for e in parsed.errors] == [
        (2, "events[2].pairs[1].key", "must not contain control characters"),
        (4, "events[4].pairs[1].value", "must not contain control characters"),
        (5, "events[5].user_id", "is required"),
        (6, "events[6].event_id", "is required"),
    ]


def test_pushkin_platforms_map_to_providers_and_platforms() -> None:
    assert {n: (p.provider, p.platform) for n, p in mapping.PLATFORMS.items()} == {
        1: ("fcm", "android"), 2: ("apns", "ios"), 5: ("apns", "ipados"), 6: ("fcm", "android_tablet"),
    }
    assert mapping.platform_for("2").provider == "apns"
    for bad in ("3", "", "iphone", 7):
        with pytest.raises(mapping.UnknownPlatform, match="is not one of 1 \\(Android phone\\)"):
            mapping.platform_for(bad)


def test_languages_and_login_parameters() -> None:
    table = {"1": "en", "2": "de"}
    assert mapping.language_for("2", table) == "de"
    assert mapping.language_for("17", table) == "17"  # not in the table: kept as given
    login = {"languageId": "1", "platformId": "5", "deviceToken": "ab" * 32, "applicationVersion": "12"}
    assert mapping.login_params(login, table) == {
        "language": "en", "platform": "ipados", "provider": "apns", "token": "ab" * 32,
        "application_version": "12",
    }
    with pytest.raises(mapping.UnknownPlatform):
        mapping.login_params({"languageId": "1"}, table)


def test_a_notification_becomes_title_body_and_deep_link() -> None:
    note = mapping.notification_for(PushkinNotification(1, "Title", "Content", "welcome_screen"))
    assert (note.title, note.body, note.url, note.data) == ("Title", "Content", "welcome_screen",
                                                            {"screen": "welcome_screen"})
    bare = mapping.notification_for(PushkinNotification(1, "Title", "Content", None))
    assert (bare.url, bare.data) == (None, None)
    assert mapping.user_external_id(-42) == "-42"
