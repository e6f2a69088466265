"""The queue on Redis Streams, for API processes and workers on many machines.

Data model (docs/scale-out.md §2 has the full key list): per queue name a
stream ``ready:<queue>`` with one consumer group, whose entries name the jobs
that are due; a hash ``job:<id>`` per job — the idempotency record and the
job's state (status, attempts, payload, size, max_tries, last error, holder,
lease expiry); sorted sets ``delayed:<queue>`` (queued jobs by run-at),
``leases:<queue>`` (leased jobs by lease expiry), ``done:<queue>`` and
``failed:<queue>`` (finished jobs by when they finished: purge and the dead
letters); a hash ``depth`` of pending work items per queue, so depth is one
``HGET``.

A claim (one Lua script, :mod:`pushgate.queue.redis_scripts`) moves the due
entries of ``delayed:<queue>`` into the stream, takes over leases that ran
out (``XCLAIM`` of the dead holder's pending entry, naming it), reads new
entries with ``XREADGROUP`` and leases the oldest due. Lease expiry is kept
in ``leases:<queue>`` by the queue's own clock rather than left to
``XAUTOCLAIM``'s idle time, which counts Redis server time: a heartbeat
(``extend``) must move it, and tests expire leases by moving an injected
clock.

``enqueue_with`` goes through the transactional outbox
(:mod:`pushgate.queue.outbox`) in the registry database.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from pushgate.errors import ConfigurationError
from pushgate.queue import redis_scripts as lua
from pushgate.queue.base import (
    ClaimedJob,
    Clock,
    Job,
    JobInfo,
    JobStatus,
    Queue,
    QueueStats,
    system_clock,
)
from pushgate.queue.outbox import OutboxRelay
from pushgate.queue.sql import LEASE_EXPIRED_ON_LAST_TRY
from pushgate.registry import Database

logger = logging.getLogger("pushgate.queue")

DEFAULT_PREFIX = "pushgate:"
# Due jobs one claim moves from delayed:<queue> into the stream (the rest move on the next claim).
PROMOTE_PER_CLAIM = 1000
PURGE_BATCH = 1000
CONSUMER_IDLE_MS = 3_600_000  # purge forgets consumers idle this long with nothing pending


def connect_redis(url: str, *, client_name: str = "pushgate") -> redis.Redis:
    """A sync client that reconnects by itself: a dropped connection costs a retry, not an error.

    Raises ConfigurationError (saying what to set) when Redis cannot be reached at start-up.
    """
    client = redis.Redis.from_url(
        url,
        client_name=client_name,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=5),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise ConfigurationError(
            f"queue = \"redis\" but Redis is not reachable at {_mask(url)} ({exc}); "
            "start Redis or set PUSHGATE_REDIS_URL (redis_url) to a reachable server"
        ) from None
    return client


def _mask(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def _num(value: float) -> str:
    return repr(float(value))  # shortest text that reads back as the same float


class RedisQueue(Queue):
    """:class:`Queue` on Redis Streams; thread-safe (redis-py pools connections)."""

    def __init__(
        self,
        client: redis.Redis,
        database: Database,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock = system_clock,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.clock = clock
        self.relay = OutboxRelay(database, self.enqueue, clock=clock)
        self.consumer_idle_ms = CONSUMER_IDLE_MS
        self._marker: bytes | str | None = None
        self._scripts = {
            name: client.register_script(getattr(lua, name))
            for name in ("ENQUEUE", "CLAIM", "COMPLETE", "RETRY", "FAIL", "RESCHEDULE", "EXTEND",
                         "REQUEUE_FAILED", "PURGE")
        }

    def _run(self, script: str, *args: Any) -> Any:
        return self._scripts[script](args=[self.prefix, _num(self.clock()), *args])

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def lost_data(self) -> bool:
        """True when Redis lost its data since this process's last call — to one process only.

        Every process plants ``P marker`` (a random value, ``SET NX``) or reads it,
        and remembers it; a Redis restarted without persistence, a ``FLUSHALL`` or a
        failover to an empty replica loses it with every job. The process that then
        plants the new marker, having known the old one, is told (it re-plans, once
        per loss); the others adopt the new one. The first call only plants or reads
        it, so a process that starts after such a loss cannot tell.
        """
        key = self._key("marker")
        current = self.redis.get(key)
        planted = False
        if current is None:
            fresh = secrets.token_hex(8)
            planted = bool(self.redis.set(key, fresh, nx=True))
            current = self.redis.get(key)
        lost = planted and self._marker is not None
        self._marker = current
        return lost

    def start_relay(self) -> None:
        """Move committed outbox rows in the background (every process that holds the queue)."""
        self.relay.start()

    def close(self) -> None:
        self.relay.stop()
        self.redis.close()

    # --- enqueue ---

    def enqueue(self, jobs: Sequence[Job]) -> int:
        if not jobs:
            return 0
        now = self.clock()
        args: list[str] = []
        for job in jobs:
            if job.max_tries < 1 or job.size < 0:
                raise ValueError(f"job {job.id!r}: max_tries must be ≥ 1 and size ≥ 0")
            due = now if job.run_at is None else job.run_at
            args += [job.id, job.queue, json.dumps(job.payload, separators=(",", ":")), _num(due),
                     str(job.max_tries), str(job.size)]
        return int(self._run("ENQUEUE", *args))

    def enqueue_with(self, transaction: Session | Connection, jobs: Sequence[Job]) -> int:
        """Outbox rows on the caller's transaction; see :mod:`pushgate.queue.outbox`."""
        for job in jobs:
            if job.max_tries < 1 or job.size < 0:
                raise ValueError(f"job {job.id!r}: max_tries must be ≥ 1 and size ≥ 0")
        return self.relay.write(transaction, jobs)

    # --- claims and their outcomes ---

    def claim(
        self, queues: Sequence[str], *, limit: int, lease_seconds: float, worker: str
    ) -> list[ClaimedJob]:
        if not queues or limit < 1:
            return []
        until = self.clock() + lease_seconds
        flat = self._run("CLAIM", _num(until), worker, str(limit), str(PROMOTE_PER_CLAIM),
                         LEASE_EXPIRED_ON_LAST_TRY, *queues)
        jobs = []
        for i in range(0, len(flat), 8):
            job_id, queue, payload, run_at, max_tries, size, attempt, previous = flat[i:i + 8]
            jobs.append(ClaimedJob(
                id=_text(job_id), queue=_text(queue), payload=json.loads(payload),
                run_at=float(run_at), max_tries=int(max_tries), size=int(size), attempt=int(attempt),
                lease_until=until, worker=worker, reclaimed_from=_text(previous) or None,
            ))
        jobs.sort(key=lambda job: job.run_at)
        return jobs

    def complete(self, ids: Sequence[str]) -> int:
        return int(self._run("COMPLETE", *ids)) if ids else 0

    def retry(self, job_id: str, *, reason: str, run_at: float | None = None) -> bool:
        due = self.clock() if run_at is None else run_at
        status = self._run("RETRY", job_id, reason, _num(due))
        return status is not None and _text(status) == JobStatus.QUEUED.value

    def reschedule(self, queue: str, *, run_at: float, id_suffix: str = "", id_prefix: str = "") -> int:
        return int(self._run("RESCHEDULE", queue, _num(run_at), id_prefix, id_suffix))

    def fail(self, job_id: str, reason: str) -> bool:
        return bool(self._run("FAIL", job_id, reason))

    def extend(self, ids: Sequence[str], lease_seconds: float, *, worker: str | None = None) -> list[str]:
        if not ids:
            return []
        held = self._run("EXTEND", _num(self.clock() + lease_seconds), worker or "", *ids)
        return [_text(job_id) for job_id in held]

    def requeue_failed(self, ids: Sequence[str], *, run_at: float | None = None) -> int:
        if not ids:
            return 0
        due = self.clock() if run_at is None else run_at
        return int(self._run("REQUEUE_FAILED", _num(due), *ids))

    def purge(self, *, older_than: float, include_failed: bool = False) -> int:
        total = 0
        for queue in self._queues():
            for finished in ("done", "failed") if include_failed else ("done",):
                while True:
                    purged = int(self._run("PURGE", finished, queue, _num(older_than), str(PURGE_BATCH)))
                    total += purged
                    if purged < PURGE_BATCH:
                        break
            self._forget_idle_consumers(queue)
        return total

    def _forget_idle_consumers(self, queue: str) -> None:
        """Drop the group's consumers that hold nothing and were idle an hour (stopped workers).

        Every worker process reads under a name of its own, and a consumer
        stays in the group until deleted. One with pending entries is kept:
        its jobs' leases name it until another claim takes them over.
        """
        stream = self._key("ready", queue)
        try:
            consumers: list[dict[str, Any]] = self.redis.xinfo_consumers(stream, lua.GROUP)
        except redis.ResponseError:  # no stream or no group yet: nothing was ever due
            return
        for consumer in consumers:
            if int(consumer["pending"]) == 0 and int(consumer["idle"]) >= self.consumer_idle_ms:
                self.redis.xgroup_delconsumer(stream, lua.GROUP, consumer["name"])

    # --- reading ---

    def depth(self, queue: str | None = None) -> int:
        if queue is not None:
            return int(self.redis.hget(self._key("depth"), queue) or 0)
        return sum(self.depths().values())

    def depths(self) -> dict[str, int]:
        counts: dict[bytes, bytes] = self.redis.hgetall(self._key("depth"))  # type: ignore[assignment]
        return {_text(queue): int(items) for queue, items in counts.items() if int(items)}

    def stats(self) -> dict[str, QueueStats]:
        now = _num(self.clock())
        queues = self._queues()
        pipe = self.redis.pipeline(transaction=True)
        for queue in queues:
            pipe.zcount(self._key("delayed", queue), "-inf", now)
            pipe.zcount(self._key("delayed", queue), f"({now}", "+inf")
            pipe.xlen(self._key("ready", queue))
            pipe.zcard(self._key("leases", queue))
            pipe.zcount(self._key("leases", queue), "-inf", now)
            pipe.zcard(self._key("done", queue))
            pipe.zcard(self._key("failed", queue))
            pipe.hget(self._key("depth"), queue)
        values = pipe.execute()
        out: dict[str, QueueStats] = {}
        for n, queue in enumerate(queues):
            due, scheduled, in_stream, leased, expired, done, failed, items = values[n * 8:n * 8 + 8]
            # Stream entries are the due jobs not claimed yet plus one per leased job.
            out[queue] = QueueStats(
                ready=int(due) + max(int(in_stream) - int(leased), 0), scheduled=int(scheduled),
                leased=int(leased), expired=int(expired), done=int(done), failed=int(failed),
                items=int(items or 0),
            )
        return out

    def get(self, job_id: str) -> JobInfo | None:
        fields: dict[bytes, bytes] = self.redis.hgetall(self._key("job", job_id))  # type: ignore[assignment]
        return _info(job_id, fields) if fields else None

    def failed_jobs(self, queue: str | None = None, *, limit: int = 100) -> list[JobInfo]:
        queues = [queue] if queue is not None else self._queues()
        latest: list[tuple[float, str]] = []
        for name in queues:
            entries: list[tuple[bytes, float]] = self.redis.zrevrange(  # type: ignore[assignment]
                self._key("failed", name), 0, limit - 1, withscores=True
            )
            latest += [(float(score), _text(job_id)) for job_id, score in entries]
        latest.sort(reverse=True)
        pipe = self.redis.pipeline(transaction=False)
        ids = [job_id for _, job_id in latest[:limit]]
        for job_id in ids:
            pipe.hgetall(self._key("job", job_id))
        return [_info(job_id, fields) for job_id, fields in zip(ids, pipe.execute(), strict=True) if fields]

    def _queues(self) -> list[str]:
        members: set[bytes] = self.redis.smembers(self._key("queues"))  # type: ignore[assignment]
        return sorted(_text(queue) for queue in members)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _info(job_id: str, raw: dict[bytes, bytes]) -> JobInfo:
    f = {_text(key): _text(value) for key, value in raw.items()}
    return JobInfo(
        id=job_id, queue=f["queue"], payload=json.loads(f["payload"]), status=JobStatus(f["status"]),
        run_at=float(f["run_at"]), due_at=float(f["due_at"]), attempts=int(f["attempts"]),
        max_tries=int(f["max_tries"]), size=int(f["size"]), lease_owner=f.get("owner") or None,
        last_error=f.get("error"), created_at=float(f["created"]), updated_at=float(f["updated"]),
    )


__all__ = ["DEFAULT_PREFIX", "RedisQueue", "connect_redis"]
