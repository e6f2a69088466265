"""The jobs a send becomes: their queues, their ids and their typed payloads.

Every producer (the API's submit, fan-out, a worker's follow-up) and every
consumer (the sender loop, a delivery job, the pause book) goes through this
module, so the formats below are written down once:

- **Queues.** ``fanout`` holds one job per send; ``deliver:<provider>``
  holds its delivery jobs, with a ``:direct`` lane for sends to named
  tokens, devices or users, which workers claim first.
- **Ids** (the queue's idempotency keys, so each is deterministic):

  - ``fanout:<send id>`` — the send's fan-out;
  - ``<send id>:<n>`` — its n-th delivery job (n counts from 0 across
    providers, in the order fan-out made them);
  - ``<root>~<tries>.<deferrals><mark>`` — a follow-up of delivery job
    ``<root>`` carrying the devices still to send: mark ``R`` for a retry
    of temporary failures, ``P`` for devices deferred by a credentials
    pause. ``tries`` and ``deferrals`` only grow along a chain, so a re-run
    after a crash makes the same follow-up id and the enqueue is a no-op.
- **Payloads** travel as JSON objects in the queue; :class:`FanoutPayload`
  and :class:`DeliveryPayload` convert with ``to_json``/``from_json``. The
  JSON keys are the stored format (jobs enqueued by an older process must
  still run): ``send_id``; ``app_id``, ``provider``, ``device_ids``; and on
  follow-ups ``try``, ``deferrals`` and ``root``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from pushgate.queue.base import DEFAULT_MAX_TRIES, Job

FANOUT_QUEUE = "fanout"
DELIVER_QUEUE_PREFIX = "deliver:"
DIRECT_LANE = ":direct"  # suffix of the lanes of sends to named devices or users
FANOUT_ID_PREFIX = "fanout:"
TOPICS_QUEUE = "topics"  # FCM topic subscription operations, one job each (id ``topic:<operation id>``)
EVENTS_QUEUE = "events"  # event batches, one job each (id ``events:<batch id>``; docs/events.md)
# Delivery webhooks' drain jobs, one at a time per webhook (id ``webhook:<id>:<n>``; docs/webhooks.md)
WEBHOOKS_QUEUE = "webhooks"
FollowUpMark = Literal["R", "P"]
RETRY_MARK: Final = "R"  # a follow-up retrying temporary failures
DEFERRED_MARK: Final = "P"  # a follow-up deferred by a credentials pause (the pause book wakes these)


def deliver_queue(provider: str, *, direct: bool = False) -> str:
    """The queue of one provider's delivery jobs, in one of two lanes.

    ``direct``: a send to named tokens, devices or users (a login code, a chat
    message). Workers claim the direct lanes before the broadcast lanes (see
    :mod:`pushgate.workers.sender`), so a send to a million devices does not
    hold up one user's notification behind it.
    """
    return f"{DELIVER_QUEUE_PREFIX}{provider}{DIRECT_LANE if direct else ''}"


def is_direct(queue: str) -> bool:
    """Whether ``queue`` is claimed first: fan-out (cheap, makes work) and the direct lanes."""
    return queue in (FANOUT_QUEUE, TOPICS_QUEUE, EVENTS_QUEUE, WEBHOOKS_QUEUE) or queue.endswith(DIRECT_LANE)


def is_delivery_queue(queue: str) -> bool:
    return queue.startswith(DELIVER_QUEUE_PREFIX)


# --- ids ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobId:
    """A parsed job id; ``str(job_id)`` formats it back."""

    send_id: str
    chunk: int | None  # None: the send's fan-out job
    tries: int = 1  # follow-ups: the try this job is (1: the first run)
    deferrals: int = 0  # follow-ups: how many pauses deferred the chain so far
    mark: FollowUpMark | None = None  # None: not a follow-up

    @property
    def root(self) -> str:
        """The id of the delivery job that started the chain (itself, if not a follow-up)."""
        if self.chunk is None:
            return f"{FANOUT_ID_PREFIX}{self.send_id}"
        return f"{self.send_id}:{self.chunk}"

    def __str__(self) -> str:
        if self.mark is None:
            return self.root
        return follow_up_id(self.root, self.tries, self.deferrals, self.mark)

    @classmethod
    def parse(cls, text: str) -> JobId:
        """The parts of an id this module made; ValueError for anything else."""
        if text.startswith(FANOUT_ID_PREFIX):
            send_id = text[len(FANOUT_ID_PREFIX):]
            if not send_id or ":" in send_id or "~" in send_id:
                raise ValueError(f"not a job id: {text!r}")
            return cls(send_id, None)
        root, tilde, follow = text.partition("~")
        send_id, colon, chunk = root.rpartition(":")
        if not colon or not send_id or "~" in send_id or not chunk.isdigit():
            raise ValueError(f"not a job id: {text!r}")
        if not tilde:
            return cls(send_id, int(chunk))
        counts, mark = follow[:-1], follow[-1:]
        tries, dot, deferrals = counts.partition(".")
        if mark not in (RETRY_MARK, DEFERRED_MARK) or not dot or not tries.isdigit() \
                or not deferrals.isdigit():
            raise ValueError(f"not a job id: {text!r}")
        return cls(send_id, int(chunk), int(tries), int(deferrals),
                   RETRY_MARK if mark == RETRY_MARK else DEFERRED_MARK)


def fanout_job_id(send_id: str) -> str:
    return f"{FANOUT_ID_PREFIX}{send_id}"


def delivery_job_id(send_id: str, chunk: int) -> str:
    return f"{send_id}:{chunk}"


def follow_up_id(root: str, tries: int, deferrals: int, mark: FollowUpMark) -> str:
    return f"{root}~{tries}.{deferrals}{mark}"


# --- payloads ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FanoutPayload:
    send_id: str

    def to_json(self) -> dict[str, Any]:
        return {"send_id": self.send_id}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FanoutPayload:
        return cls(str(data["send_id"]))


@dataclass(frozen=True, slots=True)
class DeliveryPayload:
    """A chunk of one send's devices on one provider."""

    send_id: str
    app_id: int
    provider: str
    device_ids: tuple[int, ...]
    tries: int = 1  # the try this job is: 1, then one more per retry
    deferrals: int = 0  # pauses that deferred the chain so far
    root: str | None = None  # follow-ups: the id of the chain's first job

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"send_id": self.send_id, "app_id": self.app_id, "provider": self.provider,
                                "device_ids": list(self.device_ids)}
        if self.root is not None:  # first jobs carry no chain fields (their defaults)
            data.update({"try": self.tries, "deferrals": self.deferrals, "root": self.root})
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeliveryPayload:
        return cls(
            send_id=str(data["send_id"]), app_id=int(data["app_id"]), provider=str(data["provider"]),
            device_ids=tuple(int(i) for i in data["device_ids"]), tries=int(data.get("try", 1)),
            deferrals=int(data.get("deferrals", 0)), root=data.get("root") or None,
        )


# --- jobs ----------------------------------------------------------------------------------


def fanout_job(send_id: str, send_at: datetime | None = None, *, max_tries: int = DEFAULT_MAX_TRIES) -> Job:
    """The job that fans ``send_id`` out; scheduled sends simply run later."""
    return Job(
        id=fanout_job_id(send_id), queue=FANOUT_QUEUE, payload=FanoutPayload(send_id).to_json(),
        run_at=send_at.timestamp() if send_at is not None else None, max_tries=max_tries,
    )


def delivery_job(payload: DeliveryPayload, chunk: int, *, direct: bool, max_tries: int) -> Job:
    """The ``chunk``-th delivery job of a send (fan-out numbers them)."""
    return Job(
        id=delivery_job_id(payload.send_id, chunk), queue=deliver_queue(payload.provider, direct=direct),
        payload=payload.to_json(), max_tries=max_tries, size=len(payload.device_ids),
    )


def follow_up_job(
    job_id: str,
    queue: str,
    payload: DeliveryPayload,
    device_ids: Sequence[int],
    *,
    run_at: float,
    max_tries: int,
    tries: int,
    deferrals: int,
    mark: FollowUpMark,
) -> Job:
    """The job carrying ``device_ids`` of delivery job ``job_id`` on, at ``run_at``."""
    root = payload.root or job_id
    follow = DeliveryPayload(payload.send_id, payload.app_id, payload.provider, tuple(device_ids),
                             tries=tries, deferrals=deferrals, root=root)
    return Job(
        id=follow_up_id(root, tries, deferrals, mark), queue=queue, payload=follow.to_json(),
        run_at=run_at, max_tries=max_tries, size=len(device_ids),
    )


def topic_operation_job(operation_id: str, *, max_tries: int = DEFAULT_MAX_TRIES) -> Job:
    """The job that runs a stored topic subscription operation (payload: its id only)."""
    return Job(id=f"topic:{operation_id}", queue=TOPICS_QUEUE, payload={"operation_id": operation_id},
               max_tries=max_tries)


def webhook_job(webhook_id: int, job_seq: int, *, max_tries: int) -> Job:
    """The job that delivers a webhook's waiting events (docs/webhooks.md §4).

    ``job_seq`` numbers the webhook's drain jobs: the job moves it on when it
    ends, so the next one has a new id while this one is kept as done.
    """
    return Job(id=f"webhook:{webhook_id}:{job_seq}", queue=WEBHOOKS_QUEUE,
               payload={"webhook_id": webhook_id, "job_seq": job_seq}, max_tries=max_tries)


def event_batch_job(batch_id: str, events: int, *, max_tries: int = DEFAULT_MAX_TRIES) -> Job:
    """The job that decides a stored batch of ``events`` (payload: its id; docs/events.md §4).

    It weighs its event count: those are deliveries on their way, and the
    queue's depth is the backpressure signal.
    """
    return Job(id=f"events:{batch_id}", queue=EVENTS_QUEUE, payload={"batch_id": batch_id},
               max_tries=max_tries, size=events)


def job_to_json(job: Job) -> dict[str, Any]:
    """A job not yet enqueued, as fan-out stores it in the send's state (run-at: now)."""
    return {"id": job.id, "queue": job.queue, "payload": job.payload, "max_tries": job.max_tries,
            "size": job.size}


def job_from_json(data: Mapping[str, Any]) -> Job:
    return Job(id=data["id"], queue=data["queue"], payload=data["payload"], max_tries=data["max_tries"],
               size=data["size"])


__all__ = [
    "DEFERRED_MARK",
    "DELIVER_QUEUE_PREFIX",
    "DIRECT_LANE",
    "EVENTS_QUEUE",
    "FANOUT_ID_PREFIX",
    "FANOUT_QUEUE",
    "RETRY_MARK",
    "TOPICS_QUEUE",
    "WEBHOOKS_QUEUE",
    "DeliveryPayload",
    "FanoutPayload",
    "FollowUpMark",
    "JobId",
    "deliver_queue",
    "delivery_job",
    "delivery_job_id",
    "event_batch_job",
    "fanout_job",
    "fanout_job_id",
    "follow_up_id",
    "follow_up_job",
    "is_delivery_queue",
    "is_direct",
    "job_from_json",
    "job_to_json",
    "topic_operation_job",
    "webhook_job",
]
