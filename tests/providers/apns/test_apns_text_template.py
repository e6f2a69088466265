"""Per-device texts spliced into one APNs body: byte for byte what the full build gives.

An event send's deliveries share one notification and differ in title and
body (docs/events.md §4); the APNs client builds the body once and splices
each text in (``pushgate.providers.apns.text_template``). Every case here
compares the spliced request with ``prepare`` of the notification copied
with that text, including the errors, and one send goes over real TLS and
HTTP/2 to the simulator.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pushgate.errors import PermanentError
from pushgate.notification import Notification, Priority
from pushgate.providers import Message
from pushgate.providers.apns.client import APNs, PreparedAPNs
from pushgate.providers.apns.text_template import TextTemplate
from pushgate.simulators._base import ManualClock
from pushgate.simulators.apns import APNsSimulator

NOTIFICATIONS = {
    "plain": Notification(title="x", body="y"),
    "shared fields": Notification(
        title="x", body="y", subtitle="sub", sound="ping.caf", badge=3, category="ORDER", thread_id="orders",
        url="myapp://orders/1", image="https://example.com/i.png", data={"order": "A-1", "n": [1, 2]},
        priority=Priority.NORMAL, dedupe_id="collapse-1", ttl=600,
    ),
    "header override": Notification(title="x", body="y", apns={"headers": {"apns-priority": "5"}}),
    "expiration": Notification(title="x", body="y", expiration=datetime(2030, 1, 1, tzinfo=UTC)),
}
TEXTS = [
    ("Hello Customer 7", "Your order A-0000007 has shipped"),
    ("Bonjour « Zoé »", "Votre commande est en route — 🚚 𝄞"),
    ('quote " backslash \\ slash /', "tab\tnewline\ncontrol\x01\x1f del\x7f"),
    ("line\u2028separator\u2029", "</script><!-- & é"),
    ("a", "b" * 3000),
]


@pytest.fixture
async def client(demo: dict[str, Any], sim: APNsSimulator, ca_file: Path,
                 clock: ManualClock) -> AsyncIterator[Callable[..., APNs]]:
    made: list[APNs] = []

    def make(**options: Any) -> APNs:
        made.append(APNs(key=demo["key"], key_id=demo["key_id"], team_id=demo["team_id"], topic=demo["topic"],
                         base_url=sim.url, ca_file=ca_file, clock=clock, **options))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


def full_way(client: APNs, notification: Notification, title: str | None,
             body: str | None) -> PreparedAPNs | PermanentError:
    try:
        return client.prepare(notification.model_copy(update={"title": title, "body": body}))
    except PermanentError as exc:
        return exc


def spliced(client: APNs, notification: Notification, title: str | None,
            body: str | None) -> PreparedAPNs | PermanentError:
    try:
        return client.text_preparer(notification)(title, body)
    except PermanentError as exc:
        return exc


def same(a: PreparedAPNs | PermanentError, b: PreparedAPNs | PermanentError) -> None:
    if isinstance(a, PermanentError) or isinstance(b, PermanentError):
        assert type(a) is type(b)
        assert str(a) == str(b)
        return
    assert (a.body, a.pseudo, a.fields, a.parts) == (b.body, b.pseudo, b.fields, b.parts)


@pytest.mark.parametrize("name", sorted(NOTIFICATIONS))
@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_spliced_text_is_the_full_build(client: Callable[..., APNs], name: str,
                                        text: tuple[str, str]) -> None:
    apns = client()
    notification = NOTIFICATIONS[name]
    template = TextTemplate.build(notification, bundle_id=apns.topic, now=datetime.now(UTC), max_size=None)
    assert template is not None
    assert template.body(*text) is not None  # spliced, not the full way
    same(spliced(apns, notification, *text), full_way(apns, notification, *text))


@pytest.mark.parametrize("text", [
    ("", "body"), ("title", ""), (None, "body"), ("title", None), (None, None),  # alert shape, priority
    ("lone \ud800 surrogate", "body"),  # InvalidNotification from both
    ("title", "é" * 5000),  # too large: refused
])
def test_texts_the_splice_leaves_to_the_full_build(client: Callable[..., APNs],
                                                    text: tuple[str | None, str | None]) -> None:
    apns = client()
    for notification in NOTIFICATIONS.values():
        same(spliced(apns, notification, *text), full_way(apns, notification, *text))


def test_trimmed_bodies_are_the_full_build(client: Callable[..., APNs]) -> None:
    apns = client(max_payload_size=300)
    for text in [("title", "é" * 400), ("title", "fits"), ("t" * 400, "b")]:
        same(spliced(apns, NOTIFICATIONS["plain"], *text), full_way(apns, NOTIFICATIONS["plain"], *text))


def test_payload_override_goes_the_full_way(client: Callable[..., APNs]) -> None:
    apns = client()
    note = Notification(title="x", body="y", apns={"payload": {"aps": {"alert": {"title": None}}}})
    assert TextTemplate.build(note, bundle_id=apns.topic, now=datetime.now(UTC), max_size=None) is None
    same(spliced(apns, note, "Hello", "World"), full_way(apns, note, "Hello", "World"))
    silent = Notification(silent=True)  # a silent notification with an alert is refused
    same(spliced(apns, silent, "Hello", "World"), full_way(apns, silent, "Hello", "World"))


async def test_messages_with_texts_reach_each_device(client: Callable[..., APNs], sim: APNsSimulator,
                                                      clock: ManualClock) -> None:
    shared = Notification(title="catalog name", body=None, url="myapp://orders", sound="default",
                          expiration=datetime.fromtimestamp(clock(), UTC) + timedelta(hours=1))
    tokens = [secrets.token_hex(32) for _ in range(4)]
    texts: list[tuple[str | None, str | None]] = [
        ("Hello Ann", "Order 1 shipped"), ("Bonjour Zoé", "Commande 2 en route"),
        ("Hello Ann", "Order 1 shipped"), ("", "No title"),
    ]
    messages = [Message(token, shared, text=(title or None, body))
                for token, (title, body) in zip(tokens, texts, strict=True)]
    result = await client().send_messages(messages)
    assert result.ok
    received = {entry["token"]: entry["payload"] for entry in sim.accepted}
    for token, (title, body) in zip(tokens, texts, strict=True):
        alert = {"title": title, "body": body} if title else {"body": body}
        assert received[token] == {"aps": {"alert": alert, "sound": "default"}, "url": "myapp://orders"}
