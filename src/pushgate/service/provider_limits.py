"""Per-provider queue limits: refuse a send while a provider it would reach is saturated.

``max_queue_depth`` bounds the whole queue; a provider that slows down (APNs
answering slowly, FCM throttling with 429) fills it with its own deliveries
while the others drain. ``max_provider_queue_depth`` bounds each provider's
lanes (``deliver:<provider>`` and ``deliver:<provider>:direct``, counted in
deliveries): while a provider has that many waiting, a send that would reach
at least one of its devices is refused with :class:`Backpressure` (503 and
``Retry-After``) before anything is stored — a send to iOS users only is
still accepted while FCM's lanes are full. Pushkin's equivalent was
``sender_queue_limit`` (50,000 per sender queue), above which it dropped
notifications silently.

The check costs one ``COUNT`` per saturated provider, and nothing at all
when no limit is configured or no provider is at its limit.
"""

from __future__ import annotations

import dataclasses

from pushgate.errors import Backpressure
from pushgate.planner import count_audience
from pushgate.planner.jobs import DELIVER_QUEUE_PREFIX, DIRECT_LANE
from pushgate.queue import Queue
from pushgate.registry import Database, Target
from pushgate.service.settings import Settings


def provider_depths(queue: Queue) -> dict[str, int]:
    """Deliveries waiting per provider, both lanes together."""
    out: dict[str, int] = {}
    for name, items in queue.depths().items():
        if not name.startswith(DELIVER_QUEUE_PREFIX):
            continue
        provider = name[len(DELIVER_QUEUE_PREFIX):].removesuffix(DIRECT_LANE)
        out[provider] = out.get(provider, 0) + items
    return out


def admit_providers(db: Database, queue: Queue, settings: Settings, app_id: int, target: Target) -> None:
    """Raise :class:`Backpressure` when the send would reach a provider at its limit."""
    limits = settings.max_provider_queue_depth
    if not limits:
        return
    depths = provider_depths(queue)
    full = [(str(p), depths.get(str(p), 0), limit) for p, limit in limits.items()
            if depths.get(str(p), 0) >= limit and (target.providers is None or str(p) in target.providers)]
    if not full:
        return
    if target.fcm:  # a topic or condition send is one FCM request
        hit = next((entry for entry in full if entry[0] == "fcm"), None)
        if hit is not None:
            raise Backpressure(hit[1], hit[2], settings.backpressure_retry_after)
        return
    with db.session(write=False) as session:
        for provider, waiting, limit in full:
            if count_audience(session, app_id, dataclasses.replace(target, providers=(provider,))):
                raise Backpressure(waiting, limit, settings.backpressure_retry_after)


__all__ = ["admit_providers", "provider_depths"]
