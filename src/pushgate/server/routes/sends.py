"""``/v1/sends``: send a notification, follow its progress, cancel it.

``POST /v1/sends`` (alias ``POST /v1/notifications``) answers 202 as soon as
the send and its fan-out job are stored — fan-out and delivery happen after
the answer (see :mod:`pushgate.service.submit` for what the 202 promises).
An ``Idempotency-Key`` header makes a retried request return the first
answer (``Idempotent-Replayed: true``) instead of sending twice; the same
key with a different body is 409. Overload is 503 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from pushgate.errors import Backpressure
from pushgate.registry import (
    SendStatus,
    SendStatusView,
    Target,
    device_tokens,
    get_send,
    get_send_status,
    list_deliveries,
    list_sends,
)
from pushgate.registry.constants import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, TOPIC_DEVICE_ID, DeliveryStatus
from pushgate.server.deps import AppId, ServicesDep, owned
from pushgate.server.errors import ApiError
from pushgate.server.local_time_send import local_time_send
from pushgate.server.schemas import Page, SendAccepted, SendDeliveryOut, SendIn, SendStatusOut
from pushgate.service.cancel import cancel_and_settle
from pushgate.service.submit import submit_send

router = APIRouter(prefix="/v1", tags=["sends"])
SendId = Annotated[str, Path(max_length=36, description="The id returned when the send was accepted")]
_SHOWN = 8  # characters kept at each end of a token in delivery lists


def shorten_token(token: str) -> str:
    """Enough of a token to recognise it, not enough to use it (URLs keep their origin)."""
    if token.startswith("https://"):
        origin, _, rest = token[len("https://"):].partition("/")
        return f"https://{origin}/…{rest[-_SHOWN:]}" if rest else token
    return token if len(token) <= 2 * _SHOWN else f"{token[:_SHOWN]}…{token[-_SHOWN:]}"


def _owned_status(session: Session, app_id: int, send_id: str) -> SendStatusView:
    view = get_send_status(session, send_id)
    owned("send", view.app_id if view is not None else None, app_id)
    assert view is not None
    return view


async def _send(
    body: SendIn,
    app_id: AppId,
    svc: ServicesDep,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JSONResponse:
    try:
        if body.local_time is not None:
            return await local_time_send(body, app_id, svc, idempotency_key)
        submission = await run_in_threadpool(
            submit_send, svc.db, svc.queue, svc.settings, app_id, body.notification, body.target.to_json(),
            send_at=body.send_at, idempotency_key=idempotency_key,
        )
    except Backpressure as exc:
        raise ApiError(
            503, "overloaded", f"the server is at capacity; retry in {exc.retry_after} s",
            headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after,
        ) from None
    headers = {"Location": f"/v1/sends/{submission.response['id']}"}
    if submission.replayed:
        headers["Idempotent-Replayed"] = "true"
    else:
        svc.metrics.sends.inc()
        if svc.on_enqueue is not None:
            for queue in submission.queues:
                svc.on_enqueue(queue)
    return JSONResponse(submission.response, status_code=202, headers=headers)


_SEND_ANSWERS: dict[int | str, dict[str, Any]] = {
    409: {"description": "The Idempotency-Key was used for a different request"},
    413: {"description": "The notification is too large for one of the app's providers"},
    503: {"description": "Overloaded: retry after the Retry-After header's seconds"},
}
for _path, _shown in (("/sends", True), ("/notifications", False)):  # the alias Pushkin users know
    router.add_api_route(
        _path, _send, methods=["POST"], status_code=202, response_model=SendAccepted,
        responses=_SEND_ANSWERS, summary="Send a notification", include_in_schema=_shown,
    )


@router.get("/sends", response_model=Page[SendStatusOut], summary="Recent sends, newest first")
def list_(
    app_id: AppId,
    svc: ServicesDep,
    status: SendStatus | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
) -> Page[SendStatusOut]:
    with svc.db.session(write=False) as session:
        page = list_sends(session, app_id, status=status.value if status else None, cursor=cursor,
                          limit=limit)
    items = [SendStatusOut.model_validate(view) for view in page.items]
    return Page(items=items, next_cursor=page.next_cursor)


@router.get("/sends/{send_id}", response_model=SendStatusOut, summary="A send's status and counters")
def get(send_id: SendId, app_id: AppId, svc: ServicesDep) -> SendStatusOut:
    with svc.db.session(write=False) as session:
        return SendStatusOut.model_validate(_owned_status(session, app_id, send_id))


@router.get(
    "/sends/{send_id}/deliveries", response_model=Page[SendDeliveryOut],
    summary="A send's per-device outcomes",
)
def deliveries(
    send_id: SendId,
    app_id: AppId,
    svc: ServicesDep,
    status: DeliveryStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
) -> Page[SendDeliveryOut]:
    with svc.db.session(write=False) as session:
        _owned_status(session, app_id, send_id)
        page = list_deliveries(session, send_id, status=status.value if status else None, cursor=cursor,
                               limit=limit)
        tokens = device_tokens(session, [row.device_id for row in page.items])
        send = get_send(session, send_id) if page.items and page.items[0].device_id == TOPIC_DEVICE_ID \
            else None
    # A send to an FCM topic or condition has one row and no device (registry TOPIC_DEVICE_ID).
    target = None if send is None else Target.parse(send.target)
    items = [
        SendDeliveryOut(
            device_id=None if target is not None else row.device_id,
            topic=target.values[0] if target is not None and target.audience == "topic" else None,
            condition=target.values[0] if target is not None and target.audience == "condition" else None,
            token=shorten_token(tokens[row.device_id]) if row.device_id in tokens else None,
            provider=row.provider, status=row.status, reason=row.reason, message_id=row.message_id,
            attempts=row.attempts, updated_at=row.updated_at,
        )
        for row in page.items
    ]
    return Page(items=items, next_cursor=page.next_cursor)


@router.post(
    "/sends/{send_id}/cancel", response_model=SendStatusOut,
    responses={409: {"description": "The send has finished"}}, summary="Cancel a scheduled or running send",
)
def cancel(send_id: SendId, app_id: AppId, svc: ServicesDep) -> SendStatusOut:
    """Devices not yet delivered to end ``cancelled``; deliveries already made stay recorded."""
    with svc.db.session(write=False) as session:
        _owned_status(session, app_id, send_id)
    view = cancel_and_settle(svc.db, svc.queue, send_id, app_id=app_id)
    if view is None:  # deleted meanwhile
        raise ApiError(404, "not_found", "send not found")
    if view.status != SendStatus.CANCELLED:
        raise ApiError(409, "not_cancellable",
                       f"the send is {view.status}; only unfinished sends can be cancelled")
    return SendStatusOut.model_validate(view)
