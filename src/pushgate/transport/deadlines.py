"""Request deadlines without a timer per request.

Every request of a pool has the same timeout, so deadlines arrive in
submission order. Requests go into buckets of ``interval`` seconds; one
timer per pool fires at the end of the oldest bucket and expires what is
still in it. Finishing a request is a ``set.discard``. A request may thus
live up to one interval longer than the timeout, which is the price of not
scheduling (and cancelling) a timer handle for each of 40,000 requests a
second.

Adding a request does not even read the clock: the bucket being filled
stays open until a timer closes it, at the last moment when its deadline
is still at least ``timeout`` away (a request added while that timer is
late, behind a busy loop turn, may expire that much early).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pushgate.transport.stream import Request


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the sweep needs of time: an event loop has it; tests pass a manual clock."""

    def time(self) -> float: ...
    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer: ...


class DeadlineSweep:
    def __init__(
        self,
        clock: Clock,
        timeout: float,
        on_expire: Callable[[Request], None],
    ) -> None:
        self._loop = clock
        self._timeout = timeout
        self._interval = min(max(timeout / 16, 0.005), 1.0)
        self._per_second = 1.0 / self._interval
        self._on_expire = on_expire
        self._buckets: dict[int, set[Request]] = {}  # keys ascend: insertion order is time order
        self._last_key = -1
        self._last_bucket: set[Request] = set()
        self._timer: Timer | None = None

    def add(self, request: Request) -> None:
        bucket = self._last_bucket
        if self._last_key < 0:
            bucket = self._open()
        bucket.add(request)
        request.bucket = bucket

    def _open(self) -> set[Request]:
        """Start filling the bucket whose end covers a timeout from now."""
        now = self._loop.time()
        key = int((now + self._timeout) * self._per_second) + 1  # rounds up
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = set()
        self._last_key = key
        self._last_bucket = bucket
        # Open until its end is less than a timeout away (no earlier than now).
        self._loop.call_at(max(key * self._interval - self._timeout, now), self._close, key)
        if self._timer is None:
            self._timer = self._loop.call_at(key * self._interval, self._sweep)
        return bucket

    def _close(self, key: int) -> None:
        if self._last_key == key:
            self._last_key = -1

    @staticmethod
    def discard(request: Request) -> None:
        bucket = request.bucket
        if bucket is not None:
            bucket.discard(request)
            request.bucket = None

    def _sweep(self) -> None:
        self._timer = None
        # A millisecond of slack: call_at may fire within the clock resolution
        # before the bucket's end, and keys round deadlines up anyway.
        limit = (self._loop.time() + 1e-3) / self._interval
        expired: list[Request] = []
        for key in list(self._buckets):
            if key > limit:
                break
            expired.extend(self._buckets.pop(key))
        if self._last_key <= limit:
            self._last_key = -1
        for request in expired:
            request.bucket = None
            self._on_expire(request)
        if self._buckets:
            first = next(iter(self._buckets))
            self._timer = self._loop.call_at(max(first * self._interval, self._loop.time()), self._sweep)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buckets.clear()
        self._last_key = -1
