"""The planner: who gets a send (targets → devices) and when (fan-out jobs, send_at)."""

from pushgate.planner.chunks import DeviceRow, load_chunk
from pushgate.planner.fanout import (
    DEFAULT_CHUNK_SIZE,
    DELIVER_QUEUE_PREFIX,
    FANOUT_QUEUE,
    FanoutResult,
    count_audience,
    deliver_queue,
    enqueue_fanout,
    fan_out,
    fanout_job,
    resume_fanouts,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DELIVER_QUEUE_PREFIX",
    "FANOUT_QUEUE",
    "DeviceRow",
    "FanoutResult",
    "count_audience",
    "deliver_queue",
    "enqueue_fanout",
    "fan_out",
    "fanout_job",
    "load_chunk",
    "resume_fanouts",
]
