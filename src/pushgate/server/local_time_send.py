"""``POST /v1/sends`` with ``local_time``: one scheduled send per group of time zones.

See :mod:`pushgate.service.local_time`. The answer (202) lists the sends
made, each followed like any other (``GET /v1/sends/{id}``, cancel).
"""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pushgate.registry import ValidationError
from pushgate.server.deps import ServicesDep
from pushgate.server.schemas import SendIn
from pushgate.service.local_time import submit_local_time_send


async def local_time_send(
    body: SendIn, app_id: int, svc: ServicesDep, idempotency_key: str | None
) -> JSONResponse:
    if body.send_at is not None:
        raise ValidationError("local_time", "give send_at or local_time, not both")
    assert body.local_time is not None
    answer, queues = await run_in_threadpool(
        submit_local_time_send, svc.db, svc.queue, svc.settings, app_id, body.notification,
        body.target.to_json(), body.local_time, idempotency_key=idempotency_key,
    )
    svc.metrics.sends.inc()
    if svc.on_enqueue is not None:
        for queue in queues:
            svc.on_enqueue(queue)
    return JSONResponse(answer, status_code=202)
