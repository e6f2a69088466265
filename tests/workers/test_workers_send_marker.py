"""Every Web Push payload names its send, for the service worker's displayed/clicked reports."""

from __future__ import annotations

import json

import pytest

from pushgate.errors import PayloadTooLarge
from pushgate.notification import Notification
from pushgate.providers import provider_spec
from pushgate.providers.webpush.payload import MAX_PLAINTEXT, build_payload
from pushgate.workers.delivery import with_send_marker


def test_the_marker_joins_the_callers_own_webpush_keys() -> None:
    note = Notification(title="Hi", webpush={"custom_data": "42", "ttl": 60})
    marked = with_send_marker(note, "send-1")
    assert note.webpush == {"custom_data": "42", "ttl": 60}  # the original is untouched
    message = build_payload(marked)
    assert json.loads(message.plaintext) == {"title": "Hi", "custom_data": "42",
                                             "pushgate": {"send": "send-1"}}
    assert message.ttl == 60


def test_the_size_check_at_submit_leaves_room_for_the_marker() -> None:
    # A body that fits on its own but not once the send id is added is refused when the send is accepted.
    bare = len(build_payload(Notification(title="Hi", body="")).plaintext)
    note = Notification(title="Hi", body="x" * (MAX_PLAINTEXT - bare - 10))
    assert len(build_payload(note).plaintext) <= MAX_PLAINTEXT
    with pytest.raises(PayloadTooLarge):
        provider_spec("webpush").check_payload(note, {}, None)
    provider_spec("webpush").check_payload(Notification(title="Hi", body="short"), {}, None)
