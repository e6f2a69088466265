"""Which queues a worker claims, in which tiers, and which of its slots each may take.

Claims come in tiers (:mod:`pushgate.workers.sender` says why): first the
fan-out queue, ``topics``, ``events`` and the direct lanes
(``deliver:<provider>:direct``), then ``webhooks``, then, with the slots
left, the broadcast lanes.
"""

from __future__ import annotations

from pushgate.planner.jobs import (
    DIRECT_LANE,
    EVENTS_QUEUE,
    FANOUT_QUEUE,
    TOPICS_QUEUE,
    WEBHOOKS_QUEUE,
    deliver_queue,
    is_delivery_queue,
    is_direct,
)
from pushgate.queue import ClaimedJob, ClaimTier, Queue
from pushgate.registry.constants import PROVIDERS

ALL_QUEUES = (
    FANOUT_QUEUE,
    TOPICS_QUEUE,
    EVENTS_QUEUE,
    WEBHOOKS_QUEUE,
    *(deliver_queue(p.value, direct=True) for p in PROVIDERS),
    *(deliver_queue(p.value) for p in PROVIDERS),
)


def may_take_reserved_slot(queue: str) -> bool:
    """Jobs a user waits for and short by nature: a direct lane's delivery, a fan-out (a
    direct send's first step), an event batch, a topic operation. Not webhooks: a slow
    endpoint could hold the reserved slots."""
    return is_direct(queue) and queue != WEBHOOKS_QUEUE


def claim_tiers(queues: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """``queues`` split into the tiers claimed in turn: fan-out and direct lanes (those
    that may take reserved slots, then the other short queues), then the rest."""
    first = tuple(q for q in queues if may_take_reserved_slot(q))
    short = tuple(q for q in queues if is_direct(q) and q not in first)
    rest = tuple(q for q in queues if not is_direct(q))
    return tuple(tier for tier in (first, short, rest) if tier)


def is_direct_lane(queue: str) -> bool:
    """A direct lane's delivery queue (``deliver:<provider>:direct``)."""
    return is_delivery_queue(queue) and queue.endswith(DIRECT_LANE)


def claim_by_tier(
    queue: Queue, tiers: tuple[tuple[str, ...], ...], *, limit: int, lease_seconds: float, worker: str,
    reserved: int = 0, direct: int = 0,
) -> list[ClaimedJob]:
    """Up to ``limit`` due jobs, a tier at a time with what is left; jobs that may take
    reserved slots may also use up to ``reserved`` more, and direct-lane jobs up to ``direct``
    more again (the caller gives them those). All tiers are looked at in one claim
    (:meth:`Queue.claim_tiers`); the direct lanes get a claim of their own for the ``direct``
    slots only when that one filled all the room it had."""
    room = limit + reserved
    jobs = queue.claim_tiers(reserving(tiers), limit=limit, reserved=reserved,
                             lease_seconds=lease_seconds, worker=worker)
    lanes = tuple(q for tier in tiers for q in tier if is_direct_lane(q) and may_take_reserved_slot(q))
    if lanes and direct > 0 and len(jobs) >= room:
        jobs += queue.claim(lanes, limit=direct, lease_seconds=lease_seconds, worker=worker)
    return jobs


def reserving(tiers: tuple[tuple[str, ...], ...]) -> list[ClaimTier]:
    """``tiers`` as the queue takes them: which may use the reserved slots."""
    return [ClaimTier(tier, all(may_take_reserved_slot(q) for q in tier)) for tier in tiers]


__all__ = [
    "ALL_QUEUES", "claim_by_tier", "claim_tiers", "is_direct_lane", "may_take_reserved_slot", "reserving",
]
