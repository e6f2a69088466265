"""The FCM v1 message builder: mapping, data strings, splicing, size limits, trimming."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushgate.errors import InvalidNotification, PayloadTooLarge
from pushgate.notification import Action, CriticalSound, InterruptionLevel, Notification, Priority
from pushgate.providers.fcm.payload import (
    MAX_TTL,
    MESSAGE_LIMIT,
    RESERVED_DATA_KEYS,
    TOPIC_LIMIT,
    build_message,
    build_payload,
    condition_topics,
    data_to_strings,
    normalize_topic,
)
from pushgate.simulators._fcm_validate import message_size, parse_send_request

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def body_of(notification: Notification, target: str = "tok:1", **options: Any) -> dict[str, Any]:
    payload = build_payload(notification, now=NOW, **options)
    decoded: dict[str, Any] = json.loads(payload.body_for(target))
    return decoded


def test_common_notification_and_data_strings() -> None:
    note = Notification(title="Hi", body="There", image="https://x/i.png",
                        data={"n": 1, "f": 1.5, "b": True, "none": None, "obj": {"a": [1]}, "s": "x"})
    message = body_of(note)["message"]
    assert message["token"] == "tok:1"
    assert message["notification"] == {"title": "Hi", "body": "There", "image": "https://x/i.png"}
    assert message["data"] == {
        "n": "1", "f": "1.5", "b": "true", "none": "null", "obj": '{"a":[1]}', "s": "x"
    }


def test_android_block() -> None:
    note = Notification(
        title="t", body="b", icon="ic", sound="ding", collapse_key="score", url="app://open",
        title_loc_key="T", title_loc_args=["1"], body_loc_key="B", body_loc_args=["2"], badge=4,
        ttl=90, priority=Priority.HIGH,
    )
    android = body_of(note)["message"]["android"]
    assert android["priority"] == "HIGH"
    assert android["ttl"] == "90s"
    assert android["collapse_key"] == "score"
    assert android["notification"] == {
        "icon": "ic", "sound": "ding", "tag": "score", "click_action": "app://open",
        "title_loc_key": "T", "title_loc_args": ["1"], "body_loc_key": "B", "body_loc_args": ["2"],
        "notification_count": 4,
    }
    low = Notification(title="t", priority=Priority.LOW)
    assert body_of(low)["message"]["android"]["priority"] == "NORMAL"


def test_ttl_is_clamped_to_four_weeks_and_zero_means_now() -> None:
    assert body_of(Notification(title="t", ttl=10**8))["message"]["android"]["ttl"] == f"{MAX_TTL}s"
    message = body_of(Notification(title="t", ttl=0))["message"]
    assert message["android"]["ttl"] == "0s"
    assert message["apns"]["headers"]["apns-expiration"] == "0"
    assert message["webpush"]["headers"]["TTL"] == "0"


def test_apns_block() -> None:
    note = Notification(
        title="t", subtitle="s", body="b", badge=2, sound=CriticalSound(name="a.caf", volume=0.5),
        category="C", thread_id="th", mutable_content=True, collapse_key="k", ttl=60,
        priority=Priority.NORMAL,
        interruption_level=InterruptionLevel.TIME_SENSITIVE, relevance_score=0.5,
    )
    apns = body_of(note)["message"]["apns"]
    assert apns["headers"] == {
        "apns-priority": "5", "apns-push-type": "alert",
        "apns-expiration": str(int(NOW.timestamp()) + 60), "apns-collapse-id": "k",
    }
    assert apns["payload"]["aps"] == {
        "alert": {"title": "t", "subtitle": "s", "body": "b"}, "badge": 2,
        "sound": {"critical": 1, "name": "a.caf", "volume": 0.5}, "category": "C", "thread-id": "th",
        "interruption-level": "time-sensitive", "relevance-score": 0.5, "mutable-content": 1,
    }


def test_apns_collapse_id_over_64_bytes_is_refused() -> None:
    with pytest.raises(InvalidNotification) as info:
        build_payload(Notification(title="t", collapse_key="x" * 65))
    assert info.value.field == "collapse_key"


def test_webpush_block() -> None:
    note = Notification(
        title="t", icon="https://x/i.png", url="https://example.com/a", ttl=30, priority=Priority.HIGH,
        collapse_key="news-1", actions=[Action(id="yes", title="Yes", icon="https://x/y.png")],
    )
    webpush = body_of(note)["message"]["webpush"]
    assert webpush["headers"] == {"TTL": "30", "Urgency": "high", "Topic": "news-1"}
    assert webpush["notification"] == {
        "icon": "https://x/i.png", "actions": [{"action": "yes", "title": "Yes", "icon": "https://x/y.png"}]
    }
    assert webpush["fcm_options"] == {"link": "https://example.com/a"}
    # Not HTTPS: no link (FCM refuses one); not a valid Web Push topic: no Topic header.
    other = body_of(Notification(title="t", url="http://x", collapse_key="a b"))["message"]
    assert "fcm_options" not in other.get("webpush", {})


def test_silent_is_data_only() -> None:
    note = Notification(
        silent=True, title="ignored", body="ignored", data={"k": "v"}, priority=Priority.HIGH, badge=3
    )
    message = body_of(note)["message"]
    assert "notification" not in message
    assert message["data"] == {"k": "v"}
    assert message["android"] == {"priority": "HIGH"}
    assert message["apns"] == {
        "headers": {"apns-priority": "5", "apns-push-type": "background"},
        "payload": {"aps": {"content-available": 1}},
    }
    assert message["webpush"] == {"headers": {"Urgency": "high"}}


def test_override_is_deep_merged_last() -> None:
    note = Notification(
        title="t", body="b", badge=1,
        fcm={"android": {"notification": {"channel_id": "alerts"}}, "notification": {"image": None},
             "fcm_options": {"analytics_label": "camp"}, "data": {"late": 5}},
    )
    message = body_of(note)["message"]
    assert message["android"]["notification"] == {"notification_count": 1, "channel_id": "alerts"}
    assert message["fcm_options"] == {"analytics_label": "camp"}
    assert message["data"] == {"late": "5"}


@pytest.mark.parametrize("target", ["token", "topic", "condition", "fid"])
def test_override_cannot_set_the_target(target: str) -> None:
    with pytest.raises(InvalidNotification) as info:
        build_payload(Notification(title="t", fcm={target: "x"}))
    assert info.value.field == f"fcm.{target}"


@pytest.mark.parametrize("key", [*sorted(RESERVED_DATA_KEYS), "google.c.a", "gcm.notification.x", "GoogleX"])
def test_reserved_data_keys_are_refused_by_name(key: str) -> None:
    with pytest.raises(InvalidNotification) as info:
        build_payload(Notification(data={key: "1"}))
    assert key in str(info.value)
    with pytest.raises(InvalidNotification):
        data_to_strings({key: 1})


def test_splicing_matches_a_full_serialisation() -> None:
    note = Notification(title="Grüße", body="“quotes” \\ and \"escapes\"", data={"a": "b"})
    payload = build_payload(note, now=NOW)
    spliced = json.loads(payload.body_for("abc_DEF-123:xyz"))
    assert spliced == {"message": {"token": "abc_DEF-123:xyz", **build_message(note, now=NOW)}}
    assert payload.size == message_size(spliced["message"])


def test_topic_and_condition_targets_and_validate_only() -> None:
    note = Notification(title="t")
    topic = build_payload(note, target="topic", validate_only=True).body_for("news")
    assert json.loads(topic) == {"message": {"topic": "news", **build_message(note)}, "validate_only": True}
    condition = "'a' in topics && ('b' in topics || !('c' in topics))"
    spliced = json.loads(build_payload(note, target="condition").body_for(condition))
    assert spliced["message"]["condition"] == condition


def test_topic_names() -> None:
    assert normalize_topic("/topics/news") == "news"
    assert normalize_topic("a-b_c.d~e%f") == "a-b_c.d~e%f"
    with pytest.raises(InvalidNotification):
        normalize_topic("bad topic")


@pytest.mark.parametrize(
    ("condition", "topics"),
    [
        ("'a' in topics", ["a"]),
        ("'a' in topics && 'b' in topics", ["a", "b"]),
        ("!('a' in topics) || ('b' in topics && 'c' in topics)", ["a", "b", "c"]),
        ("'a' in topics||'b' in topics", ["a", "b"]),
        ('"a" in topics && \'b\' in topics', ["a", "b"]),
    ],
)
def test_conditions(condition: str, topics: list[str]) -> None:
    assert condition_topics(condition) == topics


@pytest.mark.parametrize(
    "condition",
    [
        "",
        "'a' in topics &&",
        "('a' in topics",
        "'a' in topics)",
        "a in topics",
        "'a b' in topics",
        "'a' in topics & 'b' in topics",
        " || ".join(f"'t{i}' in topics" for i in range(6)),
    ],
)
def test_bad_conditions(condition: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        condition_topics(condition)


def test_too_large_raises_and_trimming_fits() -> None:
    note = Notification(title="t", body="é" * 3000)
    with pytest.raises(PayloadTooLarge) as info:
        build_payload(note)
    assert info.value.limit == MESSAGE_LIMIT
    trimmed = build_payload(note, max_size=MESSAGE_LIMIT)
    assert trimmed.size <= MESSAGE_LIMIT
    body = json.loads(trimmed.body_for("t"))["message"]["notification"]["body"]
    assert body.endswith("…")
    assert MESSAGE_LIMIT - trimmed.size < 8  # as much text as fits is kept
    small = build_payload(Notification(title="t", body="x" * 3000), target="topic", limit=TOPIC_LIMIT,
                          max_size=MESSAGE_LIMIT)
    assert small.size <= TOPIC_LIMIT


def test_data_too_large_cannot_be_trimmed() -> None:
    with pytest.raises(PayloadTooLarge):
        build_payload(Notification(title="t", body="b", data={"x": "y" * 5000}), max_size=4096)


# -- properties ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
data_keys = st.text(min_size=1, max_size=12).filter(
    lambda k: k not in RESERVED_DATA_KEYS and not k.lower().startswith(("google", "gcm"))
)
notifications = st.builds(
    Notification,
    title=st.none() | st.text(max_size=60),
    subtitle=st.none() | st.text(max_size=30),
    body=st.none() | st.text(max_size=3000),
    image=st.none() | st.just("https://example.com/i.png"),
    badge=st.none() | st.integers(min_value=0, max_value=10_000),
    sound=st.none() | st.just("default"),
    url=st.none() | st.sampled_from(["https://example.com/x", "app://x"]),
    collapse_key=st.none() | st.text(alphabet="abcXYZ-_ 09", min_size=1, max_size=64),
    data=st.none() | st.dictionaries(data_keys, json_values, max_size=6),
    silent=st.booleans(),
    mutable_content=st.booleans(),
    ttl=st.none() | st.integers(min_value=0, max_value=10**7),
    priority=st.none() | st.sampled_from(["high", "normal", "low"]),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(note=notifications, target=st.sampled_from(["token", "topic"]))
def test_payloads_are_valid_and_fit(note: Notification, target: Literal["token", "topic"]) -> None:
    limit = MESSAGE_LIMIT if target == "token" else TOPIC_LIMIT
    try:
        payload = build_payload(note, target=target, limit=limit, max_size=limit, now=NOW)
    except PayloadTooLarge:
        # Only the untrimmable part (data, titles) can make it too large.
        empty = note.model_copy(update={"body": None})
        with pytest.raises(PayloadTooLarge):
            build_payload(empty, target=target, limit=limit, now=NOW)
        return
    assert payload.size <= limit
    raw = payload.body_for("tok_1:A-b" if target == "token" else "news")
    request = parse_send_request(raw)  # the simulator's validator accepts it
    assert request.target == target
    assert message_size(request.raw) == payload.size
    for value in (request.message.get("data") or {}).values():
        assert isinstance(value, str)
    if note.data:
        assert {k: json.loads(v) if not isinstance(note.data[k], str) else v
                for k, v in request.message["data"].items()} == note.data
