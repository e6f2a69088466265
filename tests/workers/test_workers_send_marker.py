"""Every Web Push payload names its send, for the service worker's displayed/clicked reports."""

from __future__ import annotations

import json

from pushgate.notification import Notification
from pushgate.providers.webpush.payload import build_payload
from pushgate.workers.delivery import with_send_marker


def test_the_marker_joins_the_callers_own_webpush_keys() -> None:
    note = Notification(title="Hi", webpush={"custom_data": "42", "ttl": 60})
    marked = with_send_marker(note, "send-1")
    assert note.webpush == {"custom_data": "42", "ttl": 60}  # the original is untouched
    message = build_payload(marked)
    assert json.loads(message.plaintext) == {"title": "Hi", "custom_data": "42",
                                             "pushgate": {"send": "send-1"}}
    assert message.ttl == 60
