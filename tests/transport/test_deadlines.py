"""The request-timeout sweep: buckets, no clock read per request, expiry bounds.

Time is a manual clock (``ManualClock``): timers fire exactly when the test
advances past them, so the bounds are asserted exactly, without sleeping.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from pushgate.transport.deadlines import DeadlineSweep
from pushgate.transport.stream import Request

EPSILON = 1e-9  # float rounding of bucket keys, not timer slack


class _Handle:
    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """``time()`` and ``call_at()`` like an event loop's, on a clock the test moves."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, _Handle]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> _Handle:
        handle = _Handle(callback, args)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        return handle

    def advance(self, seconds: float) -> None:
        """Move to ``now + seconds``, running every timer due on the way, in order."""
        target = self.now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, handle = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not handle.cancelled:
                handle.callback(*handle.args)
        self.now = target


def _request() -> Request:
    return Request(b"", b"", lambda tag, response, error: None)


def test_requests_expire_after_the_timeout_and_within_one_interval() -> None:
    clock = ManualClock()
    timeout = 0.08
    expired: dict[int, float] = {}
    added: dict[int, float] = {}
    requests: dict[int, Request] = {}

    def on_expire(request: Request) -> None:
        expired[id(request)] = clock.time()

    sweep = DeadlineSweep(clock, timeout, on_expire)
    finished = _request()
    for i in range(40):  # added over about three intervals, in several buckets
        request = _request()
        requests[i] = request
        added[id(request)] = clock.time()
        sweep.add(request)
        if i == 5:
            sweep.add(finished)
            DeadlineSweep.discard(finished)  # answered in time: never expires
        clock.advance(0.0005 * (i % 3))
    assert expired == {}  # nothing before its timeout
    clock.advance(timeout + 2 * sweep._interval)
    assert len(expired) == 40
    assert id(finished) not in expired
    for key, at in expired.items():
        lived = at - added[key]
        assert timeout - EPSILON <= lived <= timeout + sweep._interval + EPSILON
    assert all(request.bucket is None for request in requests.values())
    sweep.close()


def test_nothing_expires_a_moment_before_its_timeout() -> None:
    clock = ManualClock()
    expired: list[Request] = []
    sweep = DeadlineSweep(clock, 1.0, expired.append)
    request = _request()
    sweep.add(request)
    clock.advance(1.0 - 1e-6)
    assert expired == []
    clock.advance(sweep._interval + 1e-6)
    assert expired == [request]
    sweep.close()


def test_closed_sweep_starts_afresh() -> None:
    clock = ManualClock()
    expired: list[Request] = []
    sweep = DeadlineSweep(clock, 0.02, expired.append)
    sweep.add(_request())
    sweep.close()
    later = _request()
    sweep.add(later)  # a new bucket, not the cleared one
    clock.advance(0.1)
    assert expired == [later]
    sweep.close()
