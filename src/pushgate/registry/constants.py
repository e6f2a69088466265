"""Every name, limit and default of the registry in one place.

Values that come from a provider's documentation say so; the rest are
choices, made here so the API, the workers and the tests agree on them.
"""

from __future__ import annotations

from enum import StrEnum


class ProviderName(StrEnum):
    """The delivery services a device can be registered with.

    The names of the provider table (``pushgate.providers.PROVIDER_NAMES``;
    a test keeps the two equal): an enum, so the API's schema lists them.
    Nothing switches on a member: behaviour comes from ``provider_spec``.
    """

    APNS = "apns"
    FCM = "fcm"
    WEBPUSH = "webpush"
    WNS = "wns"


PROVIDERS: tuple[ProviderName, ...] = tuple(ProviderName)


class Platform(StrEnum):
    """What the device is; independent of the provider (an iPad app may use FCM)."""

    IOS = "ios"
    IPADOS = "ipados"
    ANDROID = "android"
    ANDROID_TABLET = "android_tablet"
    WEB = "web"
    WINDOWS = "windows"


class SendStatus(StrEnum):
    """Life of a send: queued → fanning_out → sending → done (or cancelled)."""

    QUEUED = "queued"  # stored, its fan-out job waits (possibly until send_at)
    FANNING_OUT = "fanning_out"  # devices are being turned into delivery jobs
    SENDING = "sending"  # every delivery job exists; outcomes are coming in
    DONE = "done"  # every targeted device has a final delivery row
    CANCELLED = "cancelled"  # stopped by the app; jobs still queued deliver nothing


ACTIVE_SEND_STATUSES = (SendStatus.QUEUED, SendStatus.FANNING_OUT, SendStatus.SENDING)


class DeliveryStatus(StrEnum):
    """Final outcome of one notification to one device (one row per device and send)."""

    SENT = "sent"  # accepted by the provider
    FAILED = "failed"  # permanent failure for this message (reason says why)
    DEAD = "dead"  # the token is gone; the device was (or will be) deactivated
    EXPIRED = "expired"  # the notification expired before it could be sent
    CANCELLED = "cancelled"  # the send was cancelled before this device got it


# Reasons written by the registry itself (providers' reasons are stored verbatim).
REASON_CANCELLED = "Cancelled"  # the app cancelled the send
REASON_DEVICE_DELETED = "DeviceDeleted"
REASON_DEVICE_INACTIVE = "DeviceInactive"
REASON_EVICTED = "Evicted"  # beyond the app's max_devices_per_user (least recently seen goes)
REASON_REPLACED = "Replaced"  # the installation registered a new token

# A user opted out of everything with this topic; other values name one topic/event.
OPT_OUT_ALL = "*"

# API keys look like "pg_<prefix>_<secret>": the prefix finds the row, the
# SHA-256 of the whole key is what is stored. Keys carry 256 bits of entropy,
# so a fast hash is enough (no password KDF needed).
API_KEY_SCHEME = "pg"
API_KEY_PREFIX_LENGTH = 8
API_KEY_SECRET_BYTES = 32
API_KEY_PREFIX_ALPHABET = "abcdefghijkmnopqrstuvwxyz23456789"  # no l/1/0 confusion

# What a device token of each provider looks like (lengths, alphabets, the
# push-service hosts an endpoint may name) is the provider's own rule:
# pushgate.providers.<name>.tokens, behind ProviderSpec.check_token.

# Row ids are 64-bit signed integers on both databases: a larger one names no row.
MAX_ID = 2**63 - 1
# The delivery row of a send to an FCM topic or condition: one request, one outcome, and no
# device behind it. Device ids start at 1, so 0 never names a device; the row keeps the
# (send_id, device_id) key that makes recording idempotent (docs/architecture.md §5).
TOPIC_DEVICE_ID = 0

MAX_TAGS = 100
MAX_TAG_LENGTH = 100
MAX_EXTERNAL_ID_LENGTH = 255
MAX_TARGET_LIST = 10_000  # tokens / device ids / users in one send request
DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000
IMPORT_CHUNK_SIZE = 5000  # rows per transaction of a bulk import (registry/bulk.py)
SQLITE_IMPORT_CHECKPOINT_PAGES = 25_000  # WAL pages (~100 MB) between checkpoints while importing

# The fields an app's credentials must carry are in each provider's spec
# (pushgate.providers.<name>.credentials); extra fields are kept for the client.
# A config key whose name contains one of these is a secret: never shown.
SECRET_KEY_MARKERS = ("key", "secret", "password", "passphrase", "certificate", "p12", "pem")
# ... except these, which name or identify a key without being one.
PUBLIC_KEY_NAMES = frozenset({"key_id", "private_key_id", "vapid_public_key", "public_key"})
REDACTED = "***"

# App settings: name → default. Unknown names are refused.
APP_SETTINGS_DEFAULTS: dict[str, int | None] = {
    "max_devices_per_user": None,
    "rate_limit_per_minute": None,  # requests per API key per minute; None: the server's setting
}
