"""Sending from the admin UI: the API's one path, :func:`pushgate.service.submit.submit_send`.

Compose, "send test" and bulk test sends all go through it, so a send made
from a page is validated, size-checked, backpressured and stored with its
fan-out job exactly like ``POST /v1/sends``; the in-process workers are
woken on the event loop afterwards, as the API route does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool

from pushgate.errors import Backpressure, InvalidNotification, PayloadTooLarge
from pushgate.notification import Notification
from pushgate.registry import IdempotencyConflict, ValidationError
from pushgate.service.components import Services
from pushgate.service.submit import submit_send

TEST_NOTIFICATION = Notification(title="Test from pushgate",
                                 body="If you can read this, pushes reach this device.")


@dataclass(frozen=True, slots=True)
class SendResult:
    send_id: str | None  # None: refused, see ``error``
    targeted: int | None = None
    error: str | None = None


async def submit(
    services: Services,
    app_id: int,
    notification: Notification,
    target: Mapping[str, Any],
    *,
    send_at: datetime | None = None,
) -> SendResult:
    """Submit a send; a refusal comes back as a message naming the field, never an exception."""
    try:
        submission = await run_in_threadpool(
            submit_send, services.db, services.queue, services.settings, app_id, notification, dict(target),
            send_at=send_at,
        )
    except ValidationError as exc:
        return SendResult(None, error=f"{exc.field}: {exc.message}")
    except (PayloadTooLarge, InvalidNotification, IdempotencyConflict) as exc:
        return SendResult(None, error=str(exc))
    except Backpressure as exc:
        return SendResult(None, error=f"the server is at capacity; retry in {exc.retry_after} s")
    services.metrics.sends.inc()
    if services.on_enqueue is not None:
        for queue in submission.queues:
            services.on_enqueue(queue)
    response = submission.response
    return SendResult(str(response["id"]), response.get("targeted"))
