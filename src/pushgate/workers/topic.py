"""A send to an FCM topic or condition, as a delivery job of one placeholder device.

Fan-out makes one ``deliver:fcm`` job for such a send, carrying only
:data:`~pushgate.registry.constants.TOPIC_DEVICE_ID`; the delivery job runs
it like any other (pauses, expiry, retries with Retry-After, credential
pauses, the outcome recorder), except that the one "device" is the topic or
condition and the request is FCM's topic message
(docs/protocols/fcm.md §4.2; firebase.google.com/docs/cloud-messaging/send-message#send-messages-to-topics),
so its delivery row holds the FCM message id of the whole fan-out FCM does.
"""

from __future__ import annotations

from pushgate.errors import InvalidNotification, PayloadTooLarge
from pushgate.notification import Notification
from pushgate.registry.chunks import DeviceRow, load_topic_target
from pushgate.registry.constants import TOPIC_DEVICE_ID
from pushgate.registry.db import Database
from pushgate.results import Cause, Status, TokenResult


def is_topic_job(device_ids: tuple[int, ...]) -> bool:
    return device_ids == (TOPIC_DEVICE_ID,)


def load_topic_device(db: Database, send_id: str) -> list[DeviceRow]:
    """The placeholder device whose token is the topic or condition; empty once recorded."""
    target = load_topic_target(db, send_id)
    if target is None:
        return []
    return [DeviceRow(TOPIC_DEVICE_ID, "fcm", target[1], None, None, None, None, None, None, None)]


async def send_to_target(client: object, target: str, notification: Notification) -> TokenResult:
    """One FCM topic or condition message; its result carries ``target`` as its token.

    A topic name never holds a quote or a space and a condition always does
    (``'a' in topics``), so the stored value says which request it is.
    """
    # Imported here, as the provider table does: an idle server loads no send stack.
    from pushgate.providers.fcm import FCM
    from pushgate.providers.fcm.payload import TOPIC_RE
    from pushgate.workers.dry_run import DryRunProvider, dry_run_result

    if isinstance(client, DryRunProvider) and isinstance(client.inner, FCM):
        return dry_run_result(target)  # settings.dry_run: no request
    if not isinstance(client, FCM):
        return TokenResult(target, Status.FAILED, reason="NotFCM", cause=Cause.CONFIG,
                           detail="topic and condition targets are FCM's")
    try:
        if TOPIC_RE.fullmatch(target):
            result = await client.send_to_topic(notification, target)
        else:
            result = await client.send_to_condition(notification, target)
    except (InvalidNotification, PayloadTooLarge) as exc:
        # FCM's topic messages have a smaller size limit than the one checked at submit time.
        return TokenResult(target, Status.FAILED, reason=type(exc).__name__, cause=Cause.REQUEST,
                           detail=str(exc)[:200])
    result.token = target
    return result


__all__ = ["is_topic_job", "load_topic_device", "send_to_target"]
