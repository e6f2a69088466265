"""Notification → Web Push plaintext and RFC 8030 headers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushgate.errors import InvalidNotification, PayloadTooLarge
from pushgate.notification import Action, Notification, Priority
from pushgate.providers.webpush.payload import DEFAULT_TTL, MAX_PLAINTEXT, build_payload, web_topic


def _json(notification: Notification) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(build_payload(notification).plaintext)
    return loaded


def test_full_shape() -> None:
    n = Notification(
        title="Match", subtitle="Final", body="2:1", icon="https://e.x/i.png", image="https://e.x/big.png",
        badge=3, url="https://e.x/match/1", collapse_key="match-1",
        actions=[Action(id="open", title="Open", url="https://e.x/o"), Action(id="mute", title="Mute")],
        data={"match": 1}, title_loc_key="T", title_loc_args=["a"], body_loc_key="B", body_loc_args=["b"],
    )
    assert _json(n) == {
        "title": "Match", "subtitle": "Final", "body": "2:1", "icon": "https://e.x/i.png",
        "image": "https://e.x/big.png", "app_badge": 3, "url": "https://e.x/match/1", "tag": "match-1",
        "actions": [{"action": "open", "title": "Open", "url": "https://e.x/o"},
                    {"action": "mute", "title": "Mute"}],
        "data": {"match": 1}, "title_loc_key": "T", "title_loc_args": ["a"], "body_loc_key": "B",
        "body_loc_args": ["b"],
    }


def test_silent_data_message_and_empty_notification() -> None:
    assert _json(Notification(silent=True, data={"sync": True})) == {"silent": True, "data": {"sync": True}}
    message = build_payload(Notification())
    assert message.plaintext == b"{}"


def test_non_ascii_is_sent_as_utf8() -> None:
    message = build_payload(Notification(title="Grüße ☃"))
    assert "Grüße ☃".encode() in message.plaintext


def test_override_deep_merged_last_and_none_deletes() -> None:
    n = Notification(
        title="t", body="b", data={"a": 1, "b": 2},
        webpush={"data": {"b": 3, "c": 4}, "body": None, "renotify": True, "requireInteraction": True},
    )
    assert _json(n) == {"title": "t", "data": {"a": 1, "b": 3, "c": 4}, "renotify": True,
                        "requireInteraction": True}


def test_headers_defaults() -> None:
    message = build_payload(Notification(title="x"))
    assert message.ttl == DEFAULT_TTL == 2419200
    assert message.headers() == [
        ("ttl", "2419200"), ("content-encoding", "aes128gcm"), ("content-type", "application/octet-stream"),
    ]


def test_ttl_from_notification_and_expiration() -> None:
    assert build_payload(Notification(ttl=0)).ttl == 0
    now = datetime(2030, 1, 1, tzinfo=UTC)
    n = Notification(expiration=now + timedelta(seconds=90))
    assert build_payload(n, now=now).ttl == 90
    assert build_payload(n, now=now + timedelta(hours=1)).ttl == 0


def test_override_headers() -> None:
    n = Notification(title="x", ttl=10, priority=Priority.HIGH, collapse_key="k",
                     webpush={"headers": {"TTL": "30", "Urgency": "very-low", "Topic": "abcd"}})
    message = build_payload(n)
    assert (message.ttl, message.urgency, message.topic) == (30, "very-low", "abcd")
    assert "headers" not in json.loads(message.plaintext)
    short = build_payload(Notification(webpush={"ttl": 5, "urgency": "low", "topic": "t1"}))
    assert (short.ttl, short.urgency, short.topic) == (5, "low", "t1")
    assert ("urgency", "low") in short.headers()
    assert ("topic", "t1") in short.headers()


@pytest.mark.parametrize(
    "override",
    [{"headers": {"TTL": "-1"}}, {"headers": {"TTL": "soon"}}, {"ttl": True}, {"urgency": "urgent"},
     {"topic": "x" * 33}, {"topic": "with space"}, {"headers": {"Content-Encoding": "aesgcm"}},
     {"headers": ["TTL"]}],
)
def test_bad_overrides(override: dict[str, object]) -> None:
    with pytest.raises(InvalidNotification):
        build_payload(Notification(webpush=override))


@pytest.mark.parametrize(
    ("priority", "urgency"), [(Priority.HIGH, "high"), (Priority.NORMAL, "normal"), (Priority.LOW, "low")]
)
def test_priority_to_urgency(priority: Priority, urgency: str) -> None:
    assert build_payload(Notification(priority=priority)).urgency == urgency
    assert build_payload(Notification()).urgency is None


def test_topic_from_collapse_key() -> None:
    assert web_topic("scores") == "scores"
    assert web_topic("a" * 32) == "a" * 32
    for key in ("frenz-ai-done", "a" * 33, "has space", "ünï", "x"):  # 13 and 1 are ≡ 1 (mod 4)
        topic = web_topic(key)
        assert re.fullmatch(r"[0-9a-f]{32}", topic), key
        assert web_topic(key) == topic  # stable
    assert build_payload(Notification(collapse_key="frenz-ai-done")).topic == web_topic("frenz-ai-done")


def test_too_large_raises_unless_trimming_is_asked_for() -> None:
    n = Notification(title="t", body="é" * 3000)
    with pytest.raises(PayloadTooLarge):
        build_payload(n)
    trimmed = build_payload(n, max_size=MAX_PLAINTEXT)
    assert len(trimmed.plaintext) <= MAX_PLAINTEXT
    assert json.loads(trimmed.plaintext)["body"].endswith("…")
    smaller = build_payload(n, max_size=1000)
    assert len(smaller.plaintext) <= 1000
    with pytest.raises(PayloadTooLarge):
        build_payload(Notification(data={"blob": "x" * 5000}), max_size=MAX_PLAINTEXT)


@settings(max_examples=80, deadline=None)
@given(
    title=st.text(max_size=200),
    body=st.text(min_size=1, max_size=6000),
    data=st.dictionaries(st.text(max_size=10), st.text(max_size=40), max_size=8),
    max_size=st.integers(600, MAX_PLAINTEXT),
)
def test_trimming_never_exceeds_the_limit(title: str, body: str, data: dict[str, str], max_size: int) -> None:
    n = Notification(title=title, body=body, data=data or None)
    message = build_payload(n, max_size=max_size)
    assert len(message.plaintext) <= max_size <= MAX_PLAINTEXT
    payload = json.loads(message.plaintext)
    assert body.startswith(payload.get("body", "").removesuffix("…"))
