"""Re-planning the delivery jobs a queue lost with its data (docs/scale-out.md §5).

A Redis restarted without persistence (or flushed, or failed over to an
empty replica) loses every job it held. :func:`resume_fanouts` gives sends
still fanning out their fan-out job back; the delivery jobs already made
are gone, and their devices would stay pending for ever. This walks each
unfinished send's audience again — fan-out's own walk and conditions
(:func:`~pushgate.registry.fanout_queries.next_batch`), limited to devices
registered before the send started, to what its fan-out had walked, and to
devices without an outcome for the send — and enqueues a delivery job for
each chunk it finds. The worker that notices the loss calls it, once per loss
(:meth:`~pushgate.queue.base.Queue.lost_data`).

What it cannot do: find a device that left the audience since fan-out
(deactivated by another send's dead token, its user opted out, deleted)
without an outcome for this send. Such a device stays pending; the
return value counts them per send (the caller logs it). A device whose
request was in flight when the job was lost may get the notification
twice (with the send's collapse id, docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, not_, select

from pushgate.planner.jobs import DeliveryPayload, delivery_job
from pushgate.queue.base import Job, Queue
from pushgate.registry.constants import SendStatus
from pushgate.registry.db import Database
from pushgate.registry.fanout_queries import Batch, next_batch
from pushgate.registry.models import deliveries_table, devices_table, sends_table
from pushgate.registry.targets import Target

# Re-planned jobs are numbered from here: fan-out numbers its chunks from 0 and never
# reaches a billion, so a send still fanning out cannot make a job with the same id.
REPLAN_FIRST_CHUNK = 1_000_000_000

_s = sends_table.c
_d = devices_table.c
_r = deliveries_table.c


@dataclass(slots=True)
class Replanned:
    sends: int = 0  # sends that got jobs
    jobs: int = 0
    devices: int = 0
    unfound: int = 0  # pending deliveries no walk found (devices that left the audience)
    skipped: int = 0  # sends this cannot re-plan (FCM topic and event sends)


def replan_lost_deliveries(db: Database, queue: Queue, *, chunk_size: int, max_tries: int) -> Replanned:
    """Enqueue delivery jobs for every device an unfinished send targeted that has no outcome."""
    result = Replanned()
    with db.connect(write=False) as connection:
        sends = connection.execute(
            select(_s.id, _s.app_id, _s.status, _s.target, _s.fanout_state, _s.created_at, _s.send_at,
                   _s.targeted, _s.sent, _s.failed, _s.dead, _s.expired, _s.cancelled)
            .where(_s.status.in_([SendStatus.FANNING_OUT.value, SendStatus.SENDING.value]))
            .order_by(_s.created_at)
        ).all()
    for send in sends:
        if "event_batch" in send.target or Target.parse(send.target).fcm:
            result.skipped += 1
            continue
        jobs = _jobs_of(db, send, chunk_size, max_tries)
        found = sum(job.size for job in jobs)
        pending = send.targeted - (send.sent + send.failed + send.dead + send.expired + send.cancelled)
        if send.status == SendStatus.SENDING.value:
            result.unfound += max(0, pending - found)
        if jobs:
            queue.enqueue(jobs)
            result.sends += 1
            result.jobs += len(jobs)
            result.devices += found
    return result


def _jobs_of(db: Database, send: Any, chunk_size: int, max_tries: int) -> list[Job]:
    target = Target.parse(send.target)
    state: dict[str, Any] = send.fanout_state or {"cursor": [0, 0], "chunks": 0, "pending": []}
    fanning = send.status == SendStatus.FANNING_OUT.value
    # Devices in the fan-out state's pending jobs: the fan-out job re-enqueues those itself.
    taken = {device_id for job in state["pending"] for device_id in job["payload"]["device_ids"]} \
        if fanning else set()
    started = send.send_at or send.created_at
    extra = [
        _d.created_at <= started,
        not_(exists().where(_r.send_id == send.id, _r.device_id == _d.id)),
    ]
    by_provider: dict[str, list[int]] = {}
    cursor = [0, 0]
    with db.connect(write=False) as connection:
        while True:
            batch, after = next_batch(connection, send.app_id, target, cursor, chunk_size, 10, extra)
            if not batch:
                break
            if fanning:
                batch = _walked(batch, after, state["cursor"], target.audience == "all")
                if not batch:
                    break
            for device_id, provider in batch:
                if device_id not in taken:
                    by_provider.setdefault(provider, []).append(device_id)
            cursor = after
    jobs: list[Job] = []
    direct = target.audience != "all"
    for provider, ids in sorted(by_provider.items()):
        for start in range(0, len(ids), chunk_size):
            payload = DeliveryPayload(send.id, send.app_id, provider, tuple(ids[start:start + chunk_size]))
            jobs.append(delivery_job(payload, REPLAN_FIRST_CHUNK + len(jobs), direct=direct,
                                     max_tries=max_tries))
    return jobs


def _walked(batch: Batch, after: list[int], bound: list[int], by_provider_index: bool) -> Batch:
    """The part of ``batch`` that fan-out had walked when its cursor was ``bound``."""
    if not by_provider_index:  # lists: whole slices, cursor = [offset, 0]
        return batch if after[0] <= bound[0] else []
    index, last = bound
    if after[0] < index:
        return batch
    if after[0] > index:
        return []
    return [(device_id, provider) for device_id, provider in batch if device_id <= last]


__all__ = ["REPLAN_FIRST_CHUNK", "Replanned", "replan_lost_deliveries"]
