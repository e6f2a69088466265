"""The planner: who gets a send (targets → devices) and when (fan-out jobs, send_at).

:mod:`~pushgate.planner.jobs` holds the queues, job ids and payloads every
producer and consumer of a send's jobs shares; :mod:`~pushgate.planner.fanout`
turns a send into delivery jobs.
"""

from pushgate.planner.fanout import (
    DEFAULT_CHUNK_SIZE,
    FanoutResult,
    Walked,
    enqueue_fanout,
    fan_out,
    fan_out_now,
    resume_fanouts,
    walk_now,
)
from pushgate.planner.jobs import (
    DEFERRED_MARK,
    DELIVER_QUEUE_PREFIX,
    FANOUT_QUEUE,
    RETRY_MARK,
    DeliveryPayload,
    FanoutPayload,
    JobId,
    deliver_queue,
    delivery_job,
    fanout_job,
    follow_up_job,
    is_delivery_queue,
    is_direct,
)

# The audience count is the registry's query; the API asks the planner for it.
from pushgate.registry.fanout_queries import count_audience, count_audience_by_provider

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFERRED_MARK",
    "DELIVER_QUEUE_PREFIX",
    "FANOUT_QUEUE",
    "RETRY_MARK",
    "DeliveryPayload",
    "FanoutPayload",
    "FanoutResult",
    "JobId",
    "Walked",
    "count_audience",
    "count_audience_by_provider",
    "deliver_queue",
    "delivery_job",
    "enqueue_fanout",
    "fan_out",
    "fan_out_now",
    "fanout_job",
    "follow_up_job",
    "is_delivery_queue",
    "is_direct",
    "resume_fanouts",
    "walk_now",
]
