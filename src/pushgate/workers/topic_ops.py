"""Running an FCM topic subscription operation (queue ``topics``) and recording its result.

The app's cached FCM client calls the Instance ID API in batches of 1000
(``subscribe_to_topic`` / ``unsubscribe_from_topic``; docs/protocols/fcm.md,
firebase.google.com/docs/cloud-messaging/manage-topics). A transport failure
runs the job again later, as any job; rejected or missing credentials end
the operation ``failed`` with the reason.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pushgate.errors import ConfigurationError, InvalidNotification, TransportError
from pushgate.queue import ClaimedJob
from pushgate.registry.db import Database
from pushgate.registry.topic_ops import MAX_SHOWN_ERRORS, finish_topic_operation, get_topic_operation
from pushgate.workers.clients import ClientBuildError, NoCredentials

if TYPE_CHECKING:
    from pushgate.workers.context import WorkerContext

_SHOWN = 8  # characters kept at each end of a token in the error list


def _load(db: Database, operation_id: str) -> tuple[int, str, str, list[str]] | None:
    with db.session(write=False) as session:
        operation = get_topic_operation(session, operation_id)
        if operation is None or operation.status != "queued":
            return None  # gone, or finished by an earlier run
        return operation.app_id, operation.topic, operation.action, list(operation.tokens)


def _finish(db: Database, operation_id: str, **result: Any) -> None:
    with db.session() as session:
        finish_topic_operation(session, operation_id, **result)


def _short(token: str) -> str:
    return token if len(token) <= 2 * _SHOWN else f"{token[:_SHOWN]}…{token[-_SHOWN:]}"


async def run_topic_operation(ctx: WorkerContext, job: ClaimedJob) -> None:
    from pushgate.providers.fcm import FCM  # the send stack, loaded when first needed

    operation_id = str(job.payload["operation_id"])
    loaded = await asyncio.to_thread(_load, ctx.db, operation_id)
    if loaded is not None:
        result = await _run(ctx, job, FCM, *loaded)
        await asyncio.to_thread(_finish, ctx.db, operation_id, **result)
    await asyncio.to_thread(ctx.queue.complete, [job.id])


async def _run(
    ctx: WorkerContext, job: ClaimedJob, fcm: type[Any], app_id: int, topic: str, action: str,
    tokens: list[str],
) -> dict[str, Any]:
    if not tokens:
        return {}
    try:
        entry = await ctx.clients.acquire(app_id, "fcm")
    except NoCredentials:
        return {"error": "NoCredentials", "failed": len(tokens)}
    except ClientBuildError as exc:
        return {"error": f"unusable credentials: {exc}", "failed": len(tokens)}
    try:
        client = entry.client
        if not isinstance(client, fcm):
            return {"error": "not an FCM client", "failed": len(tokens)}
        manage = client.subscribe_to_topic if action == "subscribe" else client.unsubscribe_from_topic
        async with ctx.heartbeat(job):
            answer = await manage(tokens, topic)
    except TransportError:
        if not job.last_try:
            raise  # the worker runs the job again after a delay
        return {"error": "Instance ID API unreachable", "failed": len(tokens)}
    except (ConfigurationError, InvalidNotification) as exc:
        return {"error": str(exc) or type(exc).__name__, "failed": len(tokens)}
    finally:
        await ctx.clients.release(entry)
    shown = answer.errors[:MAX_SHOWN_ERRORS]
    errors = [{"token": _short(tokens[e.index]), "reason": e.reason} for e in shown]
    return {"succeeded": answer.success_count, "failed": answer.failure_count, "errors": errors}


__all__ = ["run_topic_operation"]
