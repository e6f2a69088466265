"""``POST /v1/sends/batch``: many sends in one request, each with its own answer.

Each item is a ``POST /v1/sends`` body (``notification``, ``target``,
``send_at``; ``local_time`` is refused: it makes a list of sends, not the
one an item answers) plus an optional ``idempotency_key`` of its own, and
goes through the same path (:func:`pushgate.service.submit.submit_send`):
its own validation, admission, transaction and fan-out job. The request
answers 200 with one result per item, in order: ``status`` 202 and the
``send`` as ``POST /v1/sends`` answers it, or the status and ``error`` that
route would have answered (422 with the item's field and every problem
listed, 413, 409, 503). A bad item never stops the others, except that
once one is refused for load (503) the rest are refused the same way
without being tried: the queue will not have room a millisecond later, and
the client retries them together after
``Retry-After`` (also set on the response).
"""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from pushgate.errors import Backpressure, InvalidNotification, PayloadTooLarge
from pushgate.field_names import unknown_field_hint
from pushgate.planner.jobs import FANOUT_QUEUE
from pushgate.registry import IdempotencyConflict, ValidationError
from pushgate.server.deps import AppId, ServicesDep
from pushgate.server.errors import summarize, validation_problems
from pushgate.server.schemas import SendAccepted, SendIn
from pushgate.service.components import Services
from pushgate.service.submit import submit_send

MAX_BATCH_SENDS = 100

router = APIRouter(prefix="/v1", tags=["sends"])


class BatchSendItem(SendIn):
    idempotency_key: str | None = Field(None, min_length=1, max_length=255,
                                        description="As the Idempotency-Key header of POST /v1/sends")


class BatchSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sends: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_BATCH_SENDS,
        description="Each a POST /v1/sends body (SendIn) without local_time, plus an optional "
                    "idempotency_key (1 to 255 characters) playing the Idempotency-Key header's part for "
                    "that item",
        json_schema_extra={"items": {"$ref": "#/components/schemas/SendIn"}},
    )


class ItemProblem(BaseModel):
    field: str
    message: str
    type: str


class ItemError(BaseModel):
    code: str
    message: str
    field: str | None = None
    errors: list[ItemProblem] | None = Field(
        None, description="A validation_error: every problem of the item, as POST /v1/sends lists them")


class BatchSendResult(BaseModel):
    index: int
    status: int = Field(description="202 accepted, or the status POST /v1/sends would have answered")
    send: SendAccepted | None = None
    error: ItemError | None = None


class BatchSendOut(BaseModel):
    accepted: int
    results: list[BatchSendResult]


def _error(index: int, status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error = {"code": code, "message": message} | ({"field": field} if field is not None else {})
    return {"index": index, "status": status, "error": error}


def _invalid(index: int, exc: pydantic.ValidationError) -> dict[str, Any]:
    """The item's 422 as ``POST /v1/sends`` words it for the same body: every problem, an unknown
    field's did-you-mean among the item's fields, the first one's message and field on top."""
    problems = validation_problems(
        exc.errors(), lambda location: unknown_field_hint(BatchSendItem, location),
        prefix=("body", "sends", index),
    )
    message, field = summarize(problems)
    error = {"code": "validation_error", "message": message, "field": field, "errors": problems}
    return {"index": index, "status": 422, "error": error}


def _submit_all(svc: Services, app_id: int, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Results in order, and the Retry-After of a refusal for load (0: none)."""
    results: list[dict[str, Any]] = []
    retry_after = 0
    for index, raw in enumerate(items):
        at = f"body.sends[{index}]"
        if retry_after:
            results.append(_error(index, 503, "overloaded", f"the server is at capacity; retry in "
                                  f"{retry_after} s"))
            continue
        try:
            item = BatchSendItem.model_validate(raw)
        except pydantic.ValidationError as exc:
            results.append(_invalid(index, exc))
            continue
        if item.local_time is not None:
            # A local_time send is one scheduled send per group of zones, answered as a list: not
            # the one send an item answers. Refused, so the item is not sent now instead.
            results.append(_error(index, 422, "validation_error",
                                  "local_time is not taken in a batch; send this one with POST /v1/sends",
                                  f"{at}.local_time"))
            continue
        try:
            submission = submit_send(svc.db, svc.queue, svc.settings, app_id, item.notification,
                                     item.target.to_json(), send_at=item.send_at,
                                     idempotency_key=item.idempotency_key)
        except Backpressure as exc:
            retry_after = exc.retry_after
            results.append(_error(index, 503, "overloaded",
                                  f"the server is at capacity; retry in {retry_after} s"))
            continue
        except ValidationError as exc:
            results.append(_error(index, 422, "validation_error", exc.message, f"{at}.{exc.field}"))
            continue
        except PayloadTooLarge as exc:
            results.append(_error(index, 413, "payload_too_large",
                                  f"the notification is {exc.size} bytes for {exc.provider}; its limit is "
                                  f"{exc.limit}", f"{at}.notification"))
            continue
        except InvalidNotification as exc:
            field = f"{at}.notification.{exc.field}" if exc.field else f"{at}.notification"
            results.append(_error(index, 422, "invalid_notification", str(exc), field))
            continue
        except IdempotencyConflict:
            results.append(_error(index, 409, "idempotency_conflict",
                                  "this idempotency_key was used for a different request",
                                  f"{at}.idempotency_key"))
            continue
        if not submission.replayed:
            svc.metrics.sends.inc()
        results.append({"index": index, "status": 202, "send": submission.response,
                        "replayed": submission.replayed})
    return results, retry_after


@router.post(
    "/sends/batch", response_model=BatchSendOut, summary="Many sends in one request, each answered",
    responses={200: {"description": "One result per item, in order"}},
)
async def send_batch(body: BatchSendIn, app_id: AppId, svc: ServicesDep) -> JSONResponse:
    results, retry_after = await run_in_threadpool(_submit_all, svc, app_id, body.sends)
    if svc.on_enqueue is not None and any(r["status"] == 202 and not r.get("replayed") for r in results):
        svc.on_enqueue(FANOUT_QUEUE)  # on the event loop: every new send's job is on the fan-out queue
    for result in results:
        result.pop("replayed", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    # Each accepted item's send is exactly what POST /v1/sends answers (stored with the send).
    return JSONResponse({"accepted": sum(r["status"] == 202 for r in results), "results": results},
                        headers=headers)


__all__ = ["MAX_BATCH_SENDS", "router"]
