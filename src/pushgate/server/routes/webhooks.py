"""``/v1/webhooks``: an app's endpoints for delivery events (docs/webhooks.md).

The secret is made by the server and shown once, in the answer to the
create and to ``POST /v1/webhooks/{id}/rotate-secret``; ``GET`` shows the
state a sender of webhooks needs to see: enabled or why not, the failure
run, the last success, failure and error, and the events waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from pushgate.registry.webhook_capture import EVENT_TYPES
from pushgate.registry.webhook_tables import Webhook
from pushgate.registry.webhooks import (
    create_webhook,
    delete_webhook,
    event_types,
    get_webhook,
    list_webhooks,
    pending_events,
    previous_secret_expiry,
    rotate_secret,
    update_webhook,
)
from pushgate.server.deps import AppId, ServicesDep
from pushgate.service.webhooks import check_webhook_url

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The webhook's id")]
DEFAULT_PREVIOUS_VALID = 86_400  # a day to deploy the new secret on the receiving side
MAX_PREVIOUS_VALID = 7 * 86_400
_EVENTS_DOC = f"Event types to receive (default: all): {', '.join(EVENT_TYPES)}"


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="https URL receiving the batches (docs/webhooks.md §6)")
    events: list[str] | None = Field(None, max_length=len(EVENT_TYPES), description=_EVENTS_DOC)
    enabled: bool = True


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = Field(None, max_length=len(EVENT_TYPES), description=_EVENTS_DOC)
    enabled: bool | None = Field(None, description="true re-enables a disabled webhook (failures cleared)")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_valid_seconds: int = Field(
        DEFAULT_PREVIOUS_VALID, ge=0, le=MAX_PREVIOUS_VALID,
        description="How long batches are signed with the replaced secret too (0: stop at once; "
                    "at most 7 days)")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="Why it is disabled (after a failure run, or by the API)")
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    pending_events: int = Field(description="Events waiting to be delivered")
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(None, description="The signing secret: only in the answer that made it")
    previous_secret_expires_at: datetime | None = Field(
        None, description="After a rotation: until when batches are signed with the previous secret too")


def _out(webhook: Webhook, pending: int, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=webhook.id, url=webhook.url, events=event_types(webhook), enabled=webhook.enabled,
        disabled_reason=webhook.disabled_reason, consecutive_failures=webhook.consecutive_failures,
        last_success_at=webhook.last_success_at, last_failure_at=webhook.last_failure_at,
        last_error=webhook.last_error, pending_events=pending, created_at=webhook.created_at,
        updated_at=webhook.updated_at, secret=secret,
        previous_secret_expires_at=previous_secret_expiry(webhook),
    )


@router.post("", status_code=201, response_model=WebhookOut, response_model_exclude_none=False,
             summary="Add a webhook (the answer shows its secret, once)")
async def create(body: WebhookIn, app_id: AppId, svc: ServicesDep, response: Response) -> WebhookOut:
    url = await check_webhook_url(body.url, svc.settings)

    def store() -> WebhookOut:
        with svc.db.session() as session:
            webhook, secret = create_webhook(session, app_id, url, events=body.events, enabled=body.enabled,
                                             cipher=svc.cipher)
            return _out(webhook, 0, secret)

    created = await run_in_threadpool(store)
    response.headers["Location"] = f"/v1/webhooks/{created.id}"
    return created


@router.get("", response_model=list[WebhookOut], summary="The app's webhooks")
def listing(app_id: AppId, svc: ServicesDep) -> list[WebhookOut]:
    with svc.db.session(write=False) as session:
        found = list_webhooks(session, app_id)
        pending = pending_events(session, [w.id for w in found])
        return [_out(w, pending.get(w.id, 0)) for w in found]


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook and its delivery state")
def show(webhook_id: WebhookId, app_id: AppId, svc: ServicesDep) -> WebhookOut:
    with svc.db.session(write=False) as session:
        webhook = get_webhook(session, app_id, webhook_id)
        return _out(webhook, pending_events(session, [webhook.id]).get(webhook.id, 0))


@router.patch("/{webhook_id}", response_model=WebhookOut, summary="Change a webhook, enable or disable it")
async def change(webhook_id: WebhookId, body: WebhookPatch, app_id: AppId, svc: ServicesDep) -> WebhookOut:
    url = None if body.url is None else await check_webhook_url(body.url, svc.settings)

    def store() -> WebhookOut:
        with svc.db.session() as session:
            webhook = get_webhook(session, app_id, webhook_id)
            update_webhook(session, webhook, url=url, events=body.events, enabled=body.enabled)
            return _out(webhook, pending_events(session, [webhook.id]).get(webhook.id, 0))

    return await run_in_threadpool(store)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookOut,
             summary="Replace the signing secret (the answer shows the new one, once)")
def rotate(
    webhook_id: WebhookId, app_id: AppId, svc: ServicesDep, body: RotateIn | None = None,
) -> WebhookOut:
    seconds = DEFAULT_PREVIOUS_VALID if body is None else body.previous_valid_seconds
    grace = timedelta(seconds=seconds)
    with svc.db.session() as session:
        webhook = get_webhook(session, app_id, webhook_id)
        secret = rotate_secret(session, webhook, svc.cipher, previous_valid=grace)
        return _out(webhook, pending_events(session, [webhook.id]).get(webhook.id, 0), secret)


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook and the events waiting for it")
def remove(webhook_id: WebhookId, app_id: AppId, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        delete_webhook(session, get_webhook(session, app_id, webhook_id))
    return Response(status_code=204)
