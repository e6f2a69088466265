"""Admission: is there room in the queue for a send's deliveries? (the 503 of ``POST /v1/sends``).

The bound is on deliveries, counted as what the send will enqueue (its
audience now) plus what is already coming: the queue's pending work
items, and the part of accepted sends that fan-out has not expanded yet
(a broadcast's fan-out job weighs 1 until it runs, whatever its
audience). Counting only the queue let six broadcasts through a bound of
50 because each weighed 1 until it fanned out.

Sends to named tokens, devices or users are admitted against a bound of
their own (``max_direct_queue_depth``), counting only the direct lanes:
once broadcasts fill ``max_queue_depth``, a login code is still accepted,
as its lane is also claimed first by the workers.

A send larger than the whole bound is admitted into an empty queue, so a
bound smaller than the largest audience refuses nothing for ever.
"""

from __future__ import annotations

from pushgate.errors import Backpressure
from pushgate.planner.jobs import DIRECT_LANE, is_delivery_queue
from pushgate.queue import Queue
from pushgate.registry import Database, unexpanded_deliveries
from pushgate.service.settings import Settings


def admit(
    db: Database, queue: Queue, settings: Settings, *, direct: bool, adding: int | None,
    also_waiting: int = 0, coming: tuple[int, int] | None = None,
) -> None:
    """Raise :class:`Backpressure` when ``adding`` more deliveries would exceed the send's bound.

    ``adding``: the send's audience now (None for a scheduled send: counted when it runs).
    ``also_waiting``: deliveries on their way that no lane counts yet (undecided events).
    ``coming``: :func:`~pushgate.registry.unexpanded_deliveries` when the caller read it in its
    own transaction already (else it is read here).
    """
    depths = queue.depths()
    if coming is None:
        with db.session(write=False) as session:
            coming = unexpanded_deliveries(session)
    coming_all, coming_direct = coming
    if direct:
        waiting = coming_direct + sum(
            items for name, items in depths.items() if is_delivery_queue(name) and name.endswith(DIRECT_LANE)
        )
        waiting += also_waiting
        limit = settings.max_direct_queue_depth
    else:
        waiting = coming_all + sum(depths.values())
        limit = settings.max_queue_depth
    if waiting > 0 and waiting + (adding or 0) > limit:
        raise Backpressure(waiting, limit, settings.backpressure_retry_after)


__all__ = ["admit"]
