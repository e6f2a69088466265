"""Encrypting ahead (``encrypt_ahead``): the messages of a send are encrypted in runs before
they are sent; each must still reach its own subscription, decryptable, with its
outcome in the input's place, and a message that cannot be encrypted fails alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pushgate import Message
from pushgate.crypto import ece
from pushgate.crypto.vapid import VapidKey
from pushgate.notification import Notification
from pushgate.providers.webpush.client import ENCRYPT_AHEAD, Subscription, WebPush, WebPushToken
from pushgate.results import Cause, Status
from pushgate.simulators._base import Fault, ManualClock
from pushgate.simulators.webpush import WebPushSimulator
from tests.providers.webpush.fixtures import SUBJECT


class FailingRecipient:
    """Keys that cannot encrypt (what ece raises for a message it cannot seal)."""

    def encrypt(self, plaintext: bytes, **kwargs: Any) -> bytes:
        raise ece.ECEError("these keys cannot encrypt")


def client_for(sim: WebPushSimulator, ca_file: Path, clock: ManualClock, vapid_key: VapidKey,
               allowed: list[str], ahead: int, concurrency: int) -> WebPush:
    return WebPush(vapid_private_key=vapid_key, vapid_subject=SUBJECT, allowed_hosts=allowed, ca_file=ca_file,
                   clock=clock, retry_backoff=0.001, encrypt_ahead=ahead, concurrency=concurrency)


@pytest.mark.parametrize("ahead", [0, 1, 3, ENCRYPT_AHEAD])
async def test_each_message_reaches_its_own_subscription_in_order(
    sim: WebPushSimulator, ca_file: Path, clock: ManualClock, vapid_key: VapidKey, allowed: list[str],
    ahead: int,
) -> None:
    subscriptions = [sim.subscribe() for _ in range(23)]
    messages: list[Message[WebPushToken]] = [
        Message(s, Notification(title=f"message {i}")) for i, s in enumerate(subscriptions)
    ]
    client = client_for(sim, ca_file, clock, vapid_key, allowed, ahead, concurrency=4)
    try:
        result = await client.send_messages(messages)
    finally:
        await client.aclose()
    assert result.tokens == [s["endpoint"] for s in subscriptions]  # the input's order, across runs
    assert result.ok
    # The simulator decrypted every body with its subscription's keys: each got its own message.
    titles = {record["endpoint"]: record["payload"]["title"] for record in sim.accepted}
    assert titles == {s["endpoint"]: f"message {i}" for i, s in enumerate(subscriptions)}


async def test_a_message_that_cannot_be_encrypted_fails_alone(
    sim: WebPushSimulator, ca_file: Path, clock: ManualClock, vapid_key: VapidKey, allowed: list[str],
) -> None:
    good = [sim.subscribe() for _ in range(9)]
    unsealable = Subscription.from_json(sim.subscribe())
    object.__setattr__(unsealable, "recipient", FailingRecipient())
    bad_keys = dict(sim.subscribe(), keys={"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"})
    elsewhere = dict(sim.subscribe(), endpoint="https://push.invalid.example/wpush/x")
    expired = sim.subscribe(expiration_time=int(clock() * 1000) - 1)
    tokens: list[Any] = [*good[:3], unsealable, *good[3:5], bad_keys, good[5], elsewhere, expired, *good[6:]]
    client = client_for(sim, ca_file, clock, vapid_key, allowed, ahead=4, concurrency=2)
    try:
        result = await client.send(Notification(title="t", body="b"), tokens)
    finally:
        await client.aclose()
    assert result.tokens == [t.endpoint if isinstance(t, Subscription) else t["endpoint"] for t in tokens]
    by_token = result.by_token
    failed = by_token[unsealable.endpoint]
    assert (failed.status, failed.reason, failed.cause) == (Status.FAILED, "EncryptionFailed", Cause.REQUEST)
    assert failed.detail == "these keys cannot encrypt"
    invalid = by_token[bad_keys["endpoint"]]
    assert (invalid.status, invalid.reason) == (Status.FAILED, "InvalidSubscription")
    assert by_token[elsewhere["endpoint"]].reason == "DisallowedEndpoint"
    assert by_token[expired["endpoint"]].status is Status.DEAD
    assert [by_token[s["endpoint"]].status for s in good] == [Status.SENT] * 9
    assert sorted(record["endpoint"] for record in sim.accepted) == sorted(s["endpoint"] for s in good)


class CountingRecipient:
    """The real keys, counting the encryptions."""

    def __init__(self, recipient: ece.Recipient) -> None:
        self.recipient = recipient
        self.bodies: list[bytes] = []

    def encrypt(self, plaintext: bytes, **kwargs: Any) -> bytes:
        self.bodies.append(self.recipient.encrypt(plaintext, **kwargs))
        return self.bodies[-1]


async def test_a_retried_message_is_sent_again_with_the_same_body(
    sim: WebPushSimulator, ca_file: Path, clock: ManualClock, vapid_key: VapidKey, allowed: list[str],
) -> None:
    subscription = Subscription.from_json(sim.subscribe())
    counting = CountingRecipient(subscription.recipient)
    object.__setattr__(subscription, "recipient", counting)
    sim.queue_fault(Fault(status=503, headers=[("retry-after", "0")]))
    client = client_for(sim, ca_file, clock, vapid_key, allowed, ahead=ENCRYPT_AHEAD, concurrency=10)
    try:
        result = await client.send(Notification(title="again"), [subscription])
    finally:
        await client.aclose()
    (outcome,) = result.results
    assert (outcome.status, outcome.attempts) == (Status.SENT, 2)
    assert len(counting.bodies) == 1  # the same message: encrypted once, sent twice
    assert [record["payload"]["title"] for record in sim.accepted] == ["again"]


def test_encrypt_ahead_must_not_be_negative(vapid_key: VapidKey) -> None:
    with pytest.raises(ValueError, match="encrypt_ahead"):
        WebPush(vapid_private_key=vapid_key, vapid_subject=SUBJECT, encrypt_ahead=-1)
    assert WebPush(vapid_private_key=vapid_key, vapid_subject=SUBJECT).lookahead == ENCRYPT_AHEAD
