"""``GET /v1/sends/{id}/deliveries.csv`` and ``.jsonl``: a send's whole delivery log, streamed.

The paged ``GET /v1/sends/{id}/deliveries`` is for screens; these are for
spreadsheets and scripts. The body is produced while it is sent
(:mod:`pushgate.service.exports`: a page of rows per short read
transaction), so a large send's log needs neither memory nor a long
transaction. Tokens are shortened as in the paged list; ``?status=dead``
exports one outcome only (e.g. the tokens to forget).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from pushgate.registry import get_send_status
from pushgate.registry.constants import DeliveryStatus
from pushgate.server.deps import AppId, ServicesDep, owned
from pushgate.server.routes.sends import shorten_token
from pushgate.service.components import Services
from pushgate.service.exports import as_csv, as_json_lines, delivery_rows

router = APIRouter(prefix="/v1", tags=["sends"])
SendId = Annotated[str, Path(max_length=36, description="The id returned when the send was accepted")]
StatusQuery = Annotated[DeliveryStatus | None, Query(description="Only the deliveries with this outcome")]

_FORMATS: dict[str, tuple[str, Callable[[Iterator[dict[str, Any]]], Iterator[str]]]] = {
    "csv": ("text/csv; charset=utf-8", as_csv),
    "jsonl": ("application/jsonl; charset=utf-8", as_json_lines),
}


def _export(
    svc: Services, app_id: int, send_id: str, kind: str, status: DeliveryStatus | None,
) -> StreamingResponse:
    with svc.db.session(write=False) as session:
        view = get_send_status(session, send_id)
        owned("send", view.app_id if view is not None else None, app_id)
    media, formatter = _FORMATS[kind]
    body = formatter(delivery_rows(svc.db, send_id, shorten_token, status=status.value if status else None))
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="send-{send_id}-deliveries.{kind}"',
    })


@router.get("/sends/{send_id}/deliveries.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}},
                             "description": "A header line, then one row per delivery"}},
            summary="A send's delivery log as CSV (streamed)")
def export_csv(
    send_id: SendId, app_id: AppId, svc: ServicesDep, status: StatusQuery = None,
) -> StreamingResponse:
    return _export(svc, app_id, send_id, "csv", status)


@router.get("/sends/{send_id}/deliveries.jsonl", response_class=StreamingResponse,
            responses={200: {"content": {"application/jsonl": {}},
                             "description": "One JSON object per line"}},
            summary="A send's delivery log as JSON lines (streamed)")
def export_jsonl(
    send_id: SendId, app_id: AppId, svc: ServicesDep, status: StatusQuery = None,
) -> StreamingResponse:
    return _export(svc, app_id, send_id, "jsonl", status)
