"""How many devices a process's delivery jobs may have handed to a provider and not yet recorded.

Why: no provider offers an idempotency key, so after a ``kill -9`` a device
whose outcome was not written is sent again. A device therefore holds a
slot of its window from the moment it is handed to the provider until
its outcome is **durable** (the recorder's transaction committed), not just
until the answer arrives; a job takes a new device only when a slot is
free. What a crash can re-send is then exactly what the windows held — the
requests in flight and the answers being written — never the rest of a
job, never outcomes written before the kill.

One window per app and delivery lane (``deliver:<provider>`` and its
``:direct`` lane, so a login code never waits behind a broadcast's slots)
in a process, shared by the jobs sending there (:class:`WindowShares`):
the provider path is one pipe whatever the jobs. A window per job made
jobs compete: the job that got the event loop first measured a high rate
and grew, the other measured its small share and shrank, and ran on at a
tenth of the speed until it finished alone.

How big: Little's law (window = rate x time a slot is held) says how many
slots keep the provider path busy. A provider answering in 1 ms needs a
few hundred at 20,000 deliveries/s, not ``worker_concurrency``. Like TCP
BBR's congestion window (``cwnd = 2 x bottleneck rate x min RTT``, Cardwell
et al., "BBR: Congestion-Based Congestion Control", ACM Queue 14(5), 2016;
pushgate uses a gain of 1.5), every round (one window of completions) the
window becomes ``GAIN x rate x base hold``:

- the rate is the highest round rate of the last ``BASE_WINDOW_SECONDS``
  (BBR's windowed-maximum bottleneck bandwidth). A round slowed by
  something else (another process on the core, a database lock, a job
  loading its next devices) says nothing about what the provider needs;
  following the last round's rate instead let such rounds halve the window
  again and again, and a busy machine ran at half speed (tests/workers);
- the base hold is the lowest round mean of the same span, so
  self-inflicted queueing (a saturated event loop) makes the window shrink
  instead of grow, while a provider that is genuinely slower makes it grow.
  A probe round at a quarter of the window every ``PROBE_EVERY_SECONDS``
  keeps a low-load sample in that span (BBR's ProbeRTT).

Each round moves the window by at most a factor of two, between ``minimum``
and the configured maximum.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Callable

from pushgate.workers.constants import (
    WINDOW_BASE_SECONDS,
    WINDOW_GAIN,
    WINDOW_INITIAL,
    WINDOW_MIN,
    WINDOW_PROBE_SECONDS,
)


class InFlightWindow:
    """The slots of one job (see the module docstring). Not thread-safe: one event loop."""

    __slots__ = (
        "_base", "_probe_at", "_probing", "_rates", "_round_count", "_round_hold", "_round_start",
        "_wakers", "clock", "held", "limit", "maximum", "minimum",
    )

    def __init__(
        self,
        maximum: int,
        *,
        initial: int = WINDOW_INITIAL,
        minimum: int = WINDOW_MIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maximum = max(1, maximum)
        self.minimum = max(1, min(minimum, self.maximum))
        self.limit = self._bounded(initial)
        self.held = 0  # devices handed over whose outcome is not durable yet
        self.clock = clock
        now = clock()
        self._round_start = now
        self._round_count = 0
        self._round_hold = 0.0
        self._base: deque[tuple[float, float]] = deque()  # (end of round, mean hold)
        self._rates: deque[tuple[float, float]] = deque()  # (end of round, deliveries/s)
        self._probing: int | None = None  # the limit to return to after a probe round
        self._probe_at = now + WINDOW_PROBE_SECONDS
        self._wakers: list[Callable[[], None]] = []

    def bind(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when a slot frees up (a sender sleeping on a full window)."""
        self._wakers.append(wake)

    def unbind(self, wake: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._wakers.remove(wake)

    def open(self) -> bool:
        """May one more device be handed to the provider now?"""
        return self.held < self.limit

    def take(self) -> None:
        """One device handed to the provider."""
        self.held += 1

    def release(self, count: int, hold: float) -> None:
        """``count`` devices settled (outcome durable, or not to be recorded); ``hold``: their
        summed seconds from hand-over to settlement."""
        if count <= 0:
            return
        self.held -= count
        self._round_count += count
        self._round_hold += hold
        if self._round_count >= self.limit:
            self._adapt()
        if self.held < self.limit:
            for wake in self._wakers:  # a few jobs at most; each wake only resolves a future
                wake()

    def _adapt(self) -> None:
        now = self.clock()
        count, elapsed = self._round_count, now - self._round_start
        mean = self._round_hold / count
        self._round_start, self._round_count, self._round_hold = now, 0, 0.0
        base = self._base
        base.append((now, mean))
        while len(base) > 1 and base[0][0] < now - WINDOW_BASE_SECONDS:
            base.popleft()
        if self._probing is not None:  # the probe round only refreshes the base hold
            before, self._probing = self._probing, None
            self._set(before, before)
            return
        rates = self._rates
        # Outcomes become durable in batches, so a round can end moments after it began
        # (many slots freed by one commit); like BBR's max(send, ack interval) this must
        # not read as a burst of speed: a round lasts at least one mean hold.
        span = max(elapsed, mean)
        if span > 0:
            rates.append((now, count / span))
        while len(rates) > 1 and rates[0][0] < now - WINDOW_BASE_SECONDS:
            rates.popleft()
        rate = max(r for _, r in rates) if rates else 0.0
        lowest = min(hold for _, hold in base)
        target = math.ceil(WINDOW_GAIN * rate * lowest) if rate else self.limit
        if now >= self._probe_at:
            self._probe_at = now + WINDOW_PROBE_SECONDS
            self._set(target, self.limit)
            self._probing = self.limit
            self.limit = self._bounded(self.limit // 4)
            return
        self._set(target, self.limit)

    def _set(self, target: int, current: int) -> None:
        self.limit = self._bounded(max(current // 2, min(2 * current, target)))

    def _bounded(self, value: int) -> int:
        return max(self.minimum, min(self.maximum, value))


class JobGate:
    """One job's view of its shared window: the sender binds to it, and :meth:`close`
    unbinds that sender when the job ends (the window lives on for the other jobs)."""

    __slots__ = ("_wake", "window")

    def __init__(self, window: InFlightWindow) -> None:
        self.window = window
        self._wake: Callable[[], None] | None = None

    def open(self) -> bool:
        return self.window.open()

    def bind(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self.window.bind(wake)

    def close(self) -> None:
        if self._wake is not None:
            self.window.unbind(self._wake)
            self._wake = None


class WindowShares:
    """The shared window of each (app, delivery lane) in this process, while jobs use it;
    a window opened again after its last job ended starts where that one left it."""

    def __init__(self) -> None:
        self._open: dict[tuple[int, str], tuple[InFlightWindow, int]] = {}  # window, jobs using it
        self._last: dict[tuple[int, str], int] = {}

    def open(self, app_id: int, lane: str, maximum: int) -> InFlightWindow:
        key = (app_id, lane)
        entry = self._open.get(key)
        if entry is None:
            window = InFlightWindow(maximum, initial=self._last.get(key, WINDOW_INITIAL))
        else:
            window = entry[0]
        self._open[key] = (window, 1 if entry is None else entry[1] + 1)
        return window

    def close(self, app_id: int, lane: str, window: InFlightWindow) -> None:
        key = (app_id, lane)
        entry = self._open.get(key)
        if entry is None or entry[0] is not window:
            return
        if entry[1] > 1:
            self._open[key] = (window, entry[1] - 1)
            return
        del self._open[key]
        self._last[key] = window.limit

    # Read by the metrics endpoint, which `pushgate worker --metrics-port` serves from a
    # thread: copy the values first (one C-level step under the GIL) so the dict cannot
    # change size during the sum.
    def in_flight(self) -> int:
        return sum(window.held for window, _ in list(self._open.values()))

    def limits(self) -> int:
        return sum(window.limit for window, _ in list(self._open.values()))


__all__ = ["InFlightWindow", "JobGate", "WindowShares"]
