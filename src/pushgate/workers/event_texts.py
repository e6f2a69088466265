"""An event send's per-device texts, applied to its notification before a delivery job sends.

An event send (docs/events.md §4) stores one notification with what every
device shares (deep link, priority, extras) and, per device, the title and
body rendered in that user's language. Each device's message carries the
send's one notification and its own (title, body)
(:attr:`pushgate.providers.Message.text`), so a provider client builds
what the texts share once per job and only the texts per device
(``Provider.text_preparer``; devices with the same text share one
prepared request).
"""

from __future__ import annotations

from pushgate.registry import Database
from pushgate.registry.catalog.batches import load_texts
from pushgate.registry.chunks import DeviceRow

REASON_NO_TEXT = "NoRenderedText"  # a device of an event send without its text (not expected)


Text = tuple[str | None, str | None]


def personalize(
    db: Database, send_id: str, devices: list[DeviceRow]
) -> tuple[dict[int, Text], list[DeviceRow], list[int]]:
    """Device id → its (title, body), an empty one as None; the devices that have one; the ids of
    those that have none."""
    texts = load_texts(db, send_id, [device.id for device in devices])
    by_device: dict[int, Text] = {}
    kept: list[DeviceRow] = []
    missing: list[int] = []
    for device in devices:
        text = texts.get(device.id)
        if text is None:
            missing.append(device.id)
            continue
        title, body = text
        by_device[device.id] = (title or None, body or None)
        kept.append(device)
    return by_device, kept, missing


__all__ = ["REASON_NO_TEXT", "Text", "personalize"]
