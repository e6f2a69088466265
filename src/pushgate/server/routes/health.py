"""Liveness, readiness and Prometheus metrics (no API key: probes and scrapers have none).

- ``GET /health``: the process answers (a load balancer's liveness probe).
- ``GET /ready``: it can do its job — the database answers, its schema is
  at the migration this code expects, and the queue answers. 503 with the
  failing checks otherwise, so an orchestrator keeps traffic away from a
  server whose database is gone or not yet migrated. Error details name the
  exception type only: a driver's message can contain a connection URL.
- ``GET /metrics``: the Prometheus text format of the server's registry
  (requests, queue depth per queue, sends, delivery outcomes, provider
  latency, auth token refreshes).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from pushgate.server.deps import ServicesDep
from pushgate.service.components import schema_head

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: database, schema and queue",
            responses={503: {"description": "Not ready"}})
def ready(svc: ServicesDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        current = svc.db.current_revision()  # raises when the database is unreachable
        expected = schema_head()
        checks["database"] = {"ok": True}
        checks["schema"] = {"ok": current == expected, "revision": current, "expected": expected}
        if current != expected:
            checks["schema"]["problem"] = "run `pushgate migrate`"
    except Exception as exc:  # any failure means not ready; the type is enough to act on
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        checks["schema"] = {"ok": False}
    try:
        checks["queue"] = {"ok": True, "depth": svc.queue.depth()}
    except Exception as exc:
        checks["queue"] = {"ok": False, "error": type(exc).__name__}
    ok = all(check["ok"] for check in checks.values())
    return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                        status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(svc: ServicesDep) -> Response:
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)
