"""An event send's per-device texts, applied to its notification before a delivery job sends.

An event send (docs/events.md §4) stores one notification with what every
device shares (deep link, priority, extras) and, per device, the title and
body rendered in that user's language. Devices with the same text share
one :class:`Notification` object, so a provider client prepares each
distinct text once (``Provider.send_messages`` caches by notification).
"""

from __future__ import annotations

from pushgate.notification import Notification
from pushgate.registry import Database
from pushgate.registry.catalog.batches import load_texts
from pushgate.registry.chunks import DeviceRow

REASON_NO_TEXT = "NoRenderedText"  # a device of an event send without its text (not expected)


def personalize(
    db: Database, send_id: str, devices: list[DeviceRow], notification: Notification
) -> tuple[dict[int, Notification], list[DeviceRow], list[int]]:
    """Device id → its notification; the devices that have one; the ids of those that have none."""
    texts = load_texts(db, send_id, [device.id for device in devices])
    shared: dict[tuple[str, str], Notification] = {}
    by_device: dict[int, Notification] = {}
    kept: list[DeviceRow] = []
    missing: list[int] = []
    for device in devices:
        text = texts.get(device.id)
        if text is None:
            missing.append(device.id)
            continue
        note = shared.get(text)
        if note is None:
            title, body = text
            note = shared[text] = notification.model_copy(
                update={"title": title or None, "body": body or None})
        by_device[device.id] = note
        kept.append(device)
    return by_device, kept, missing


__all__ = ["REASON_NO_TEXT", "personalize"]
