"""API rate limits per API key: fixed one-minute windows, shared by every API process.

Why this shape: an API process must not write to the database on every
request (on SQLite that is the write lock the outcome writer needs), yet a
limit is only a limit if several API processes enforce it together. So
each process counts a key's requests in memory and adds them to the shared
row of the current window (:func:`pushgate.registry.rate_limits.add_hits`)
on the key's first request of a window, then every ``SYNC_SECONDS`` or
every twentieth of the limit, whichever comes first, reading back the sum
of all processes each time. A process refuses when the last sum it read
plus what it counted since reaches the limit. The limit can therefore be
exceeded by at most what each other process admitted since its last sync:
``limit / 20`` per process, or half a second of its traffic.

Headers (draft-ietf-httpapi-ratelimit-headers, the ``RateLimit-*`` fields
most clients read): ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset`` (seconds until the window ends) on every answer to a
limited key; a refused request is 429 with ``Retry-After`` as well.

Where the shared counts live: the registry database (``rate_limit_windows``)
by default, or Redis when the queue is on Redis (``INCRBY`` on one key per
bucket and window, expiring after two windows), where every API process of
a scaled-out deployment already connects. A counter error while syncing
lets requests through (fails open) and is logged: an outage of the counter
store must not take the API down.

Public routes (those a page or a device calls without an API key) are
limited per client address instead (``public_rate_limit_per_minute``),
and counted in each process only (:func:`local_counter`): their callers
are every browser of every app, and a shared row per address and minute
would be a database write per visitor. With N API processes an address
can make up to N times the limit; the limit is there to stop a flood,
not to meter. Behind a reverse proxy, the client address is the one the
proxy forwards when uvicorn trusts it (``FORWARDED_ALLOW_IPS``, default
127.0.0.1), otherwise the proxy's own.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pushgate.queue.base import Clock, system_clock
from pushgate.registry import Database
from pushgate.registry.rate_limits import add_hits
from pushgate.registry.safe_errors import log_failure

logger = logging.getLogger("pushgate.rate_limits")

WINDOW_SECONDS = 60
SYNC_SECONDS = 0.5
SYNC_FRACTION = 20  # sync after limit / SYNC_FRACTION local requests
MAX_BUCKETS = 10_000  # keys remembered before idle ones are dropped


# (bucket, window start, hits to add) → the bucket's total in that window, across processes.
Counter = Callable[[str, int, int], int]


def redis_counter(client: Any, prefix: str, window: int = WINDOW_SECONDS) -> Counter:
    """Shared counts in Redis: one key per bucket and window, gone two windows later."""

    def add(bucket: str, start: int, hits: int) -> int:
        key = f"{prefix}ratelimit:{bucket}:{start}"
        pipe = client.pipeline()
        pipe.incrby(key, hits)
        pipe.expire(key, 2 * window)
        total, _ = pipe.execute()
        return int(total)

    return add


def local_counter() -> Counter:
    """Counts kept in this process: the current window's only (see "Public routes" above)."""
    totals: dict[tuple[str, int], int] = {}
    newest = [-1]
    lock = threading.Lock()

    def add(bucket: str, start: int, hits: int) -> int:
        with lock:
            if start > newest[0]:  # a new window: the earlier ones are over
                totals.clear()
                newest[0] = start
            key = (bucket, start)
            totals[key] = total = totals.get(key, 0) + hits
            return total

    return add


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> dict[str, str]:
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.reset)
        return out


@dataclass(slots=True)
class _Bucket:
    window: int
    shared: int = 0  # the sum of every process's count at the last sync
    pending: int = 0  # counted here since then
    synced_at: float = -math.inf


class RateLimiter:
    """Counts requests per bucket (an API key) against a per-minute limit (see the module docstring).

    Thread-safe: FastAPI runs the authentication dependency in its thread pool.
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = system_clock,
        window: int = WINDOW_SECONDS,
        counter: Counter | None = None,
    ) -> None:
        self.db = db
        self.counter: Counter = counter or partial(add_hits, db)
        self.clock = clock
        self.window = window
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, limit: int) -> RateDecision:
        """Count one request of ``bucket`` if the limit allows it."""
        now = self.clock()
        window = int(now // self.window) * self.window
        reset = max(1, math.ceil(window + self.window - now))
        with self._lock:
            state = self._buckets.get(bucket)
            if state is None or state.window != window:
                if state is None and len(self._buckets) >= MAX_BUCKETS:
                    self._forget_before(window)
                state = self._buckets[bucket] = _Bucket(window)
            if state.shared + state.pending >= limit:
                return RateDecision(False, limit, 0, reset)
            state.pending += 1
            flush = 0
            if now - state.synced_at >= SYNC_SECONDS or state.pending >= max(1, limit // SYNC_FRACTION):
                flush, state.pending, state.synced_at = state.pending, 0, now
            used = state.shared + state.pending + flush
        if flush:
            used = self._sync(bucket, state, window, flush, used)
        return RateDecision(True, limit, max(0, limit - used), reset)

    def _sync(self, bucket: str, state: _Bucket, window: int, flush: int, used: int) -> int:
        try:
            total = self.counter(bucket, window, flush)
        except Exception as exc:
            log_failure(logger, "counting API requests for the rate limit failed; letting them through", exc,
                        level=logging.WARNING)
            with self._lock:
                state.pending += flush
            return used
        with self._lock:
            if state.window == window:
                state.shared = max(state.shared, total)
            return state.shared + state.pending

    def _forget_before(self, window: int) -> None:
        """Drop the counts of keys idle since an earlier window (under the lock)."""
        self._buckets = {k: v for k, v in self._buckets.items() if v.window >= window}


__all__ = ["Counter", "RateDecision", "RateLimiter", "local_counter", "redis_counter"]
