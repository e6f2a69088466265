"""Pushpad's notifications API: create (deliver_to, broadcast, everyone), get, list, cancel.

A notification is a pushgate send, accepted by the same service call as
``POST /v1/sends`` (:func:`pushgate.service.submit.submit_send`: stored with
its fan-out job in one transaction before the answer), and known to the
Pushpad client by an integer id (:mod:`pushgate.registry.pushpad_store`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pushgate.errors import Backpressure
from pushgate.registry import SendStatus, ValidationError
from pushgate.registry.apps import require_app
from pushgate.registry.pushpad_store import (
    list_notifications,
    notification_send,
    project_attributes,
    record_notification,
)
from pushgate.server.deps import ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.pushpad.auth import CallerDep
from pushgate.server.pushpad.shapes import NotificationIn, notification_json, positive, timestamp
from pushgate.service.cancel import cancel_and_settle
from pushgate.service.submit import submit_send

router = APIRouter(tags=["pushpad"])
PER_PAGE = 20  # notifications per page of the list (pushgate's choice; the client only sends page)
ProjectId = Annotated[int, Path(ge=1)]
NotificationId = Annotated[int, Path(ge=1)]


@router.post("/projects/{project_id}/notifications", status_code=201,
             summary="Create and send a notification (Pushpad)")
async def create(
    project_id: ProjectId, body: NotificationIn, caller: CallerDep, svc: ServicesDep
) -> JSONResponse:
    def accept() -> dict[str, Any]:
        app_id = caller.project(svc, project_id)
        with svc.db.session(write=False) as session:
            silent = bool(project_attributes(require_app(session, app_id)).get("notifications_silent"))
        try:
            submission = submit_send(svc.db, svc.queue, svc.settings, app_id, body.notification(silent),
                                     body.target(), send_at=body.due())
        except ValidationError as exc:  # the target's fields, as Pushpad's body names them
            field = exc.field.removeprefix("target.").replace("users", "uids", 1)
            raise ValidationError(field, exc.message) from None
        with svc.db.session() as session:
            number = record_notification(session, app_id, submission.response["id"])
        for queue in submission.queues:
            if svc.on_enqueue is not None:
                svc.on_enqueue(queue)
        return {"number": number, **submission.response}

    try:
        accepted = await run_in_threadpool(accept)
    except Backpressure as exc:
        raise ApiError(503, "overloaded", f"the server is at capacity; retry in {exc.retry_after} s",
                       headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after) from None
    svc.metrics.sends.inc()
    answer: dict[str, Any] = {"id": accepted["number"]}
    if accepted.get("scheduled") is not None:  # Pushpad: scheduled and uids, or send_at
        answer["scheduled"] = accepted["scheduled"]
        if "uids" in accepted:
            answer["uids"] = accepted["uids"]
    else:
        answer["send_at"] = timestamp(body.due())
    return JSONResponse(answer, status_code=201)


@router.get("/projects/{project_id}/notifications", summary="A project's notifications, newest first")
def list_(
    project_id: ProjectId, caller: CallerDep, svc: ServicesDep, page: Annotated[int | None, Query()] = None
) -> list[dict[str, Any]]:
    app_id = caller.project(svc, project_id)
    with svc.db.session(write=False) as session:
        rows = list_notifications(session, app_id, page=positive(page, "page", 1), per_page=PER_PAGE)
        return [notification_json(row.id, send) for row, send in rows]


def _owned(caller: CallerDep, svc: ServicesDep, notification_id: int) -> tuple[int, str, dict[str, Any]]:
    with svc.db.session(write=False) as session:
        found = notification_send(session, notification_id)
        if found is None or (not caller.admin and found[1].app_id != caller.app_id):
            raise ApiError(404, "not_found", "notification not found")
        row, send = found
        return send.app_id, send.id, notification_json(row.id, send)


@router.get("/notifications/{notification_id}", summary="A notification and its counters (Pushpad)")
def get(notification_id: NotificationId, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    return _owned(caller, svc, notification_id)[2]


@router.delete("/notifications/{notification_id}/cancel", status_code=204,
               summary="Cancel a scheduled notification (Pushpad)")
def cancel(notification_id: NotificationId, caller: CallerDep, svc: ServicesDep) -> Response:
    app_id, send_id, _shown = _owned(caller, svc, notification_id)
    view = cancel_and_settle(svc.db, svc.queue, send_id, app_id=app_id)
    if view is None or view.status != SendStatus.CANCELLED:
        status = "gone" if view is None else view.status
        raise ApiError(409, "not_cancellable",
                       f"the notification is {status}; only unfinished ones can be cancelled")
    return Response(status_code=204)
