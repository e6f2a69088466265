"""/v1/topics: subscribe device tokens to an FCM topic, or unsubscribe them, as a durable job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pushgate.planner.jobs import TOPICS_QUEUE
from pushgate.registry import ValidationError
from pushgate.registry.topic_ops import get_topic_operation
from pushgate.server.deps import AppId, ServicesDep, owned
from pushgate.server.errors import ApiError
from pushgate.server.schemas import TopicOperationIn, TopicOperationOut
from pushgate.service.topics import submit_topic_operation

router = APIRouter(prefix="/v1/topics", tags=["topics"])
Topic = Annotated[str, Path(max_length=900, description="The FCM topic name")]


async def _submit(
    topic: str, action: str, body: TopicOperationIn, app_id: int, svc: ServicesDep
) -> JSONResponse:
    try:
        answer = await run_in_threadpool(submit_topic_operation, svc.db, svc.queue, svc.settings, app_id,
                                         topic, action, tokens=body.tokens, users=body.users)
    except ValidationError as exc:
        if exc.field != "topic":
            raise  # a body field: answered as every registry error is
        raise ApiError(422, "validation_error", exc.message, field="path.topic") from None
    if svc.on_enqueue is not None:
        svc.on_enqueue(TOPICS_QUEUE)
    location = f"/v1/topics/operations/{answer['id']}"
    return JSONResponse(answer, status_code=202, headers={"Location": location})


@router.post("/{topic}/subscribe", status_code=202, summary="Subscribe FCM tokens (or users' FCM devices)")
async def subscribe(topic: Topic, body: TopicOperationIn, app_id: AppId, svc: ServicesDep) -> JSONResponse:
    return await _submit(topic, "subscribe", body, app_id, svc)


@router.post("/{topic}/unsubscribe", status_code=202, summary="Unsubscribe FCM tokens (or users' devices)")
async def unsubscribe(topic: Topic, body: TopicOperationIn, app_id: AppId, svc: ServicesDep) -> JSONResponse:
    return await _submit(topic, "unsubscribe", body, app_id, svc)


@router.get("/operations/{operation_id}", response_model=TopicOperationOut,
            summary="A topic operation's result")
def operation(
    operation_id: Annotated[str, Path(max_length=36)], app_id: AppId, svc: ServicesDep
) -> TopicOperationOut:
    with svc.db.session(write=False) as session:
        found = get_topic_operation(session, operation_id)
        owned("topic operation", found.app_id if found is not None else None, app_id)
        assert found is not None
        return TopicOperationOut.model_validate(found, from_attributes=True)
