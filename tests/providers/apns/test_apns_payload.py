"""The APNs payload builder: Notification → body and apns-* headers (docs/protocols/apns.md §3 and §4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushgate.errors import InvalidNotification, PayloadTooLarge
from pushgate.notification import CriticalSound, InterruptionLevel, Notification, Priority
from pushgate.providers._payload_json import deep_merge
from pushgate.providers.apns.payload import (
    PAYLOAD_LIMIT,
    TOPIC_SUFFIXES,
    VOIP_PAYLOAD_LIMIT,
    build_payload,
    topic_for,
)

BUNDLE = "com.example.app"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def body_of(notification: Notification, **kw: Any) -> dict[str, object]:
    parts = build_payload(notification, bundle_id=BUNDLE, now=NOW, **kw)
    loaded: dict[str, object] = json.loads(parts.body)
    return loaded


def test_alert_fields_and_custom_keys_beside_aps() -> None:
    n = Notification(
        title="T", subtitle="S", body="B", title_loc_key="TK", title_loc_args=["a"],
        body_loc_key="BK", body_loc_args=["b", "c"], badge=3, sound="ping.caf", category="CAT",
        thread_id="th", mutable_content=True, interruption_level=InterruptionLevel.TIME_SENSITIVE,
        relevance_score=0.5, url="myapp://x", data={"k": 1, "nested": {"a": [1]}},
    )
    assert body_of(n) == {
        "aps": {
            "alert": {
                "title": "T", "subtitle": "S", "body": "B", "title-loc-key": "TK",
                "title-loc-args": ["a"], "loc-key": "BK", "loc-args": ["b", "c"],
            },
            "badge": 3, "sound": "ping.caf", "thread-id": "th", "category": "CAT",
            "mutable-content": 1, "interruption-level": "time-sensitive", "relevance-score": 0.5,
        },
        "k": 1, "nested": {"a": [1]}, "url": "myapp://x",
    }


def test_body_is_compact_utf8_json() -> None:
    parts = build_payload(Notification(title="Grüße 👋", body="x"), bundle_id=BUNDLE)
    assert parts.body == '{"aps":{"alert":{"title":"Grüße 👋","body":"x"}}}'.encode()


def test_critical_sound_and_badge_zero() -> None:
    n = Notification(body="x", badge=0, sound=CriticalSound(name="alarm.caf", volume=0.3))
    aps = body_of(n)["aps"]
    assert aps == {"alert": {"body": "x"}, "badge": 0, "sound": {"critical": 1, "name": "alarm.caf",
                                                                   "volume": 0.3}}


def test_silent_is_background_with_content_available() -> None:
    parts = build_payload(Notification(silent=True, data={"sync": "1"}), bundle_id=BUNDLE)
    assert json.loads(parts.body) == {"aps": {"content-available": 1}, "sync": "1"}
    assert (parts.push_type, parts.priority, parts.topic) == ("background", "5", BUNDLE)


def test_silent_with_alert_is_rejected() -> None:
    with pytest.raises(InvalidNotification) as info:
        build_payload(Notification(silent=True, title="x"), bundle_id=BUNDLE)
    assert info.value.field == "silent"


def test_data_key_aps_is_rejected() -> None:
    with pytest.raises(InvalidNotification) as info:
        build_payload(Notification(body="x", data={"aps": {}}), bundle_id=BUNDLE)
    assert info.value.field == "data"


def test_image_sets_mutable_content_and_key() -> None:
    payload = body_of(Notification(body="x", image="https://img/1.png"))
    assert payload["aps"] == {"alert": {"body": "x"}, "mutable-content": 1}
    assert payload["image"] == "https://img/1.png"


def test_data_url_wins_over_model_url() -> None:
    assert body_of(Notification(body="x", url="a://1", data={"url": "b://2"}))["url"] == "b://2"


@pytest.mark.parametrize(
    ("priority", "visible", "expected"),
    [
        (None, True, "10"), (None, False, "5"), (Priority.HIGH, True, "10"),
        (Priority.NORMAL, True, "5"), (Priority.LOW, True, "1"),
    ],
)
def test_priority_mapping(priority: Priority | None, visible: bool, expected: str) -> None:
    n = Notification(body="x" if visible else None, data={"a": 1}, priority=priority)
    assert build_payload(n, bundle_id=BUNDLE).priority == expected


def test_background_is_always_priority_5() -> None:
    n = Notification(silent=True, priority=Priority.HIGH)
    assert build_payload(n, bundle_id=BUNDLE).priority == "5"


@pytest.mark.parametrize("push_type", sorted(TOPIC_SUFFIXES))
def test_push_type_topic_suffixes(push_type: str) -> None:
    n = Notification.model_validate({"body": "x", "push_type": push_type})
    parts = build_payload(n, bundle_id=BUNDLE)
    assert parts.push_type == push_type
    assert parts.topic == BUNDLE + TOPIC_SUFFIXES[push_type]
    assert ("apns-push-type", push_type) in parts.headers()


def test_topic_for_keeps_full_topic() -> None:
    assert topic_for("com.x.voip", "voip") == "com.x.voip"
    assert topic_for("com.x", "liveactivity") == "com.x.push-type.liveactivity"


def test_expiration_from_ttl_and_absolute() -> None:
    assert build_payload(Notification(body="x", ttl=60), bundle_id=BUNDLE, now=NOW).expiration == str(
        int(NOW.timestamp()) + 60
    )
    assert build_payload(Notification(body="x", ttl=0), bundle_id=BUNDLE, now=NOW).expiration == "0"
    when = NOW + timedelta(hours=2)
    assert build_payload(Notification(body="x", expiration=when), bundle_id=BUNDLE).expiration == str(
        int(when.timestamp())
    )
    assert build_payload(Notification(body="x"), bundle_id=BUNDLE).expiration is None


def test_collapse_id_limit_is_64_bytes() -> None:
    parts = build_payload(Notification(body="x", collapse_key="é" * 32), bundle_id=BUNDLE)
    assert parts.collapse_id == "é" * 32
    with pytest.raises(InvalidNotification) as info:
        build_payload(Notification(body="x", collapse_key="é" * 32 + "x"), bundle_id=BUNDLE)
    assert info.value.field == "collapse_key"


def test_override_payload_deep_merged_last_and_none_deletes() -> None:
    n = Notification(
        title="T", body="B", badge=1, url="u://1",
        apns={"payload": {"aps": {"alert": {"launch-image": "l.png"}, "target-content-id": "inbox",
                                  "badge": None}, "url": None, "extra": [1]}},
    )
    assert body_of(n) == {
        "aps": {"alert": {"title": "T", "body": "B", "launch-image": "l.png"}, "target-content-id": "inbox"},
        "extra": [1],
    }


def test_override_headers() -> None:
    n = Notification(body="x", apns={"headers": {"apns-priority": 5, "apns-topic": "com.other",
                                                 "APNS-Collapse-Id": "c1"}})
    parts = build_payload(n, bundle_id=BUNDLE)
    assert (parts.priority, parts.topic, parts.collapse_id) == ("5", "com.other", "c1")


@pytest.mark.parametrize(
    "block",
    [
        {"aps": {}},
        {"headers": {"apns-id": "x"}},
        {"headers": {"authorization": "bearer x"}},
        {"headers": {"apns-priority": "7"}},
        {"headers": {"apns-push-type": "nope"}},
        {"headers": {"apns-expiration": "soon"}},
        {"payload": [1]},
    ],
)
def test_bad_override_blocks(block: dict[str, object]) -> None:
    with pytest.raises(InvalidNotification):
        build_payload(Notification(body="x", apns=block), bundle_id=BUNDLE)


def test_too_large_raises_and_trimming_fits() -> None:
    n = Notification(title="T", body="x" * 5000)
    with pytest.raises(PayloadTooLarge) as info:
        build_payload(n, bundle_id=BUNDLE)
    assert info.value.limit == PAYLOAD_LIMIT
    parts = build_payload(n, bundle_id=BUNDLE, max_size=PAYLOAD_LIMIT)
    assert len(parts.body) <= PAYLOAD_LIMIT
    assert json.loads(parts.body)["aps"]["alert"]["body"].endswith("…")


def test_voip_limit_is_5120() -> None:
    n = Notification(body="x" * 4500, push_type="voip")
    assert len(build_payload(n, bundle_id=BUNDLE).body) > PAYLOAD_LIMIT
    with pytest.raises(PayloadTooLarge) as info:
        build_payload(Notification(body="x" * 5200, push_type="voip"), bundle_id=BUNDLE)
    assert info.value.limit == VOIP_PAYLOAD_LIMIT


def test_data_too_large_cannot_be_trimmed() -> None:
    with pytest.raises(PayloadTooLarge):
        build_payload(Notification(body="hi", data={"blob": "x" * 5000}), bundle_id=BUNDLE, max_size=4096)


def test_deep_merge_does_not_mutate() -> None:
    base = {"a": {"b": 1}}
    merged = deep_merge(base, {"a": {"c": 2}})
    assert merged == {"a": {"b": 1, "c": 2}}
    assert base == {"a": {"b": 1}}


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=3000)


@settings(max_examples=150, deadline=None)
@given(
    body=text,
    title=st.one_of(st.none(), st.text(max_size=200)),
    data=st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k != "aps"),
                         st.text(max_size=50), max_size=5),
    limit=st.integers(min_value=300, max_value=PAYLOAD_LIMIT),
)
def test_trimming_always_fits_and_is_valid_json(
    body: str, title: str | None, data: dict[str, str], limit: int
) -> None:
    n = Notification(title=title, body=body * 2, data=data)
    if n.is_empty:  # nothing to say: refused rather than sent as {"aps":{}}
        with pytest.raises(InvalidNotification):
            build_payload(n, bundle_id=BUNDLE, max_size=limit)
        return
    try:
        parts = build_payload(n, bundle_id=BUNDLE, max_size=limit)
    except PayloadTooLarge:
        # Only possible when everything but the body is already too big.
        empty = build_payload(Notification(title=title, body="", data=data), bundle_id=BUNDLE)
        assert len(empty.body) > limit
        return
    assert len(parts.body) <= limit
    payload = json.loads(parts.body.decode("utf-8"))  # strict UTF-8: nothing cut mid-character
    sent = payload["aps"]["alert"]["body"]
    full = body * 2
    assert sent == full or (sent.endswith("…") and full.startswith(sent[:-1]))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="é漢👋a", min_size=1500, max_size=2500))
def test_non_ascii_trimmed_on_character_boundaries(body: str) -> None:
    parts = build_payload(Notification(body=body), bundle_id=BUNDLE, max_size=1000)
    assert len(parts.body) <= 1000
    sent = json.loads(parts.body.decode("utf-8"))["aps"]["alert"]["body"]
    assert sent.endswith("…")
    assert body.startswith(sent[:-1])
