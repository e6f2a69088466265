"""``GET /v1/stats`` (JSON or CSV) and ``GET /v1/stats/sends/{id}``: delivery and engagement counters.

Per bucket (hour or day, UTC, by the send's creation time) and per custom
metric: sends, targeted, sent, failed, dead (the sends' own counters) and
displayed, clicked (what service workers reported,
:mod:`pushgate.registry.engagement`). ``format=csv`` answers the same rows
as ``text/csv`` with one header line; the rows of every send have an empty
``metric`` column.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from pushgate.registry.engagement import COUNTERS, Bucket, StatsRow, send_stats, stats
from pushgate.server.deps import AppId, ServicesDep
from pushgate.server.errors import ApiError

router = APIRouter(prefix="/v1/stats", tags=["stats"])


class StatsRowOut(BaseModel):
    start: datetime
    metric: str | None
    sends: int
    targeted: int
    sent: int
    failed: int
    dead: int
    displayed: int
    clicked: int

    @classmethod
    def of(cls, row: StatsRow) -> StatsRowOut:
        return cls(start=row.start.replace(tzinfo=UTC), metric=row.metric, **row.counts)


class StatsOut(BaseModel):
    bucket: Bucket
    since: datetime
    until: datetime
    totals: list[StatsRowOut] = Field(description="Every send, per bucket")
    metrics: list[StatsRowOut] = Field(description="Per custom metric and bucket")


class SendStatsOut(BaseModel):
    id: str
    created_at: datetime
    metrics: list[str]
    sends: int
    targeted: int
    sent: int
    failed: int
    dead: int
    displayed: int
    clicked: int


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


@router.get("", response_model=StatsOut, summary="Counters per hour or day, and per custom metric",
            responses={200: {"content": {"text/csv": {}}}})
def get_stats(
    app_id: AppId,
    svc: ServicesDep,
    bucket: Bucket = Bucket.DAY,
    since: Annotated[AwareDatetime | None, Query(description="Default: 7 days (hour: 24 hours) ago")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Default: now")] = None,
    metric: Annotated[str | None, Query(max_length=100, description="Only this custom metric")] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    end = _utc(until) if until is not None else datetime.now(UTC)
    start = _utc(since) if since is not None else end - (timedelta(hours=24) if bucket is Bucket.HOUR
                                                          else timedelta(days=7))
    with svc.db.session(write=False) as session:
        totals, metrics = stats(session, app_id, since=start, until=end, bucket=bucket, metric=metric)
    if format == "csv":
        return Response(_csv(totals + metrics), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="pushgate-stats.csv"'})
    return StatsOut(bucket=bucket, since=start, until=end, totals=[StatsRowOut.of(r) for r in totals],
                    metrics=[StatsRowOut.of(r) for r in metrics])


def _csv(rows: list[StatsRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["start", "metric", *COUNTERS])
    for row in rows:
        writer.writerow([row.start.replace(tzinfo=UTC).isoformat(), _cell(row.metric or ""),
                         *(row.counts[name] for name in COUNTERS)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A metric name as a spreadsheet shows it, never as a formula (OWASP "CSV injection")."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/sends/{send_id}", response_model=SendStatsOut, summary="One send's counters")
def get_send_stats(
    send_id: Annotated[str, Path(max_length=36)], app_id: AppId, svc: ServicesDep,
) -> SendStatsOut:
    with svc.db.session(write=False) as session:
        found = send_stats(session, app_id, send_id)
    if found is None:
        raise ApiError(404, "not_found", "send not found")
    return SendStatsOut(**found)
