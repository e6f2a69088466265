"""How many devices a delivery job may have handed to its provider and not yet recorded.

Why: no provider offers an idempotency key, so after a ``kill -9`` a device
whose outcome was not written is sent again. A device therefore holds a
slot of its job's window from the moment it is handed to the provider until
its outcome is **durable** (the recorder's transaction committed), not just
until the answer arrives; a job takes a new device only when one of its
slots is free. What a crash can re-send is then exactly what the windows
held — the requests in flight and the answers being written — never the
rest of a job, never outcomes written before the kill.

How big: Little's law (window = rate x time a slot is held) says how many
slots keep the provider path busy. A provider answering in 1 ms needs a
few dozen at 20,000 deliveries/s, not ``worker_concurrency``. Like TCP BBR's
congestion window (``cwnd = 2 x bottleneck rate x min RTT``, Cardwell et
al., "BBR: Congestion-Based Congestion Control", ACM Queue 14(5), 2016;
pushgate uses a gain of 1.5), every round (one window of completions) the
window becomes
``GAIN x rate x base hold``: the base hold is the lowest round mean of the
last ``BASE_WINDOW_SECONDS``, so self-inflicted queueing (a saturated event
loop, a busy database) makes the window shrink instead of grow, while a
provider that is genuinely slower makes it grow. A probe round at a quarter
of the window every ``PROBE_EVERY_SECONDS`` keeps a low-load sample in that
range (BBR's ProbeRTT). Each round moves the window by at most a factor of
two, between ``minimum`` and the configured maximum.
"""

from __future__ import annotations

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
        "_base", "_probe_at", "_probing", "_rate", "_round_count", "_round_hold", "_round_start",
        "_wake", "clock", "held", "limit", "maximum", "minimum",
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
        self._rate = 0.0  # deliveries/s of the last full-size round
        self._probing: int | None = None  # the limit to return to after a probe round
        self._probe_at = now + WINDOW_PROBE_SECONDS
        self._wake: Callable[[], None] | None = None

    def bind(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when a slot frees up (the sender sleeping on a full window)."""
        self._wake = wake

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
        if self._wake is not None and self.held < self.limit:
            self._wake()

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
        if elapsed > 0:
            self._rate = count / elapsed
        lowest = min(hold for _, hold in base)
        target = math.ceil(WINDOW_GAIN * self._rate * lowest) if self._rate else self.limit
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


class WindowHints:
    """The last window of each (app, provider) in this process: a new job starts there
    instead of probing up from the start again."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, str], int] = {}
        self.live: set[InFlightWindow] = set()  # windows of running jobs (the gauges)

    def open(self, app_id: int, provider: str, maximum: int) -> InFlightWindow:
        window = InFlightWindow(maximum, initial=self._last.get((app_id, provider), WINDOW_INITIAL))
        self.live.add(window)
        return window

    def close(self, app_id: int, provider: str, window: InFlightWindow) -> None:
        self.live.discard(window)
        self._last[(app_id, provider)] = window.limit

    # Read by the metrics endpoint, which `pushgate worker --metrics-port` serves from a
    # thread: copy the set first (one C-level step under the GIL) so it cannot change
    # size during the sum.
    def in_flight(self) -> int:
        return sum(window.held for window in list(self.live))

    def limits(self) -> int:
        return sum(window.limit for window in list(self.live))


__all__ = ["InFlightWindow", "WindowHints"]
